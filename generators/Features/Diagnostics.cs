using Microsoft.CodeAnalysis;

namespace SpecKit.Generators.Features;

/// <summary>Every diagnostic the feature generator reports, FEAT0xx. Step errors point at the .feature line.</summary>
internal static class Diagnostics
{
    private const string Category = "SpecKit.Features";

    public static readonly DiagnosticDescriptor UndefinedStep = Error("FEAT001", "Undefined step", "Undefined step: {0} {1}. Add a step definition: {2}");

    public static readonly DiagnosticDescriptor AmbiguousStep = Error("FEAT002", "Ambiguous step", "Ambiguous step: {0} {1} matches {2} step definitions: {3}");

    public static readonly DiagnosticDescriptor BadArgument = Error("FEAT003", "Argument cannot be converted", "Step '{0}': argument {1} of {2}: {3}");

    public static readonly DiagnosticDescriptor DuplicateScenario = Error("FEAT004", "Duplicate scenario name", "Scenario name '{0}' is used twice in this feature (first at line {1}): snapshots and test names would collide");

    public static readonly DiagnosticDescriptor OutlineWithoutExamples = Error("FEAT005", "Scenario Outline without Examples", "Scenario Outline '{0}' has no Examples: add an Examples table, or make it a Scenario");

    public static readonly DiagnosticDescriptor DuplicateExamplesHeader = Error("FEAT006", "Duplicate Examples header", "Examples of '{0}' name the column '{1}' twice");

    public static readonly DiagnosticDescriptor GherkinSyntax = Error("FEAT007", "Gherkin syntax error", "{0}");

    public static readonly DiagnosticDescriptor ParameterCountMismatch = Error("FEAT008", "Step and method disagree", "Step '{0}' binds to {1}, which takes {2} argument(s) but the pattern captures {3}{4}");

    public static readonly DiagnosticDescriptor StepArgumentMismatch = Error("FEAT009", "Table or doc string mismatch", "Step '{0}': {1}");

    public static readonly DiagnosticDescriptor InvalidExpression = Error("FEAT010", "Invalid step pattern", "{0} on {1}: {2}");

    public static readonly DiagnosticDescriptor InvalidParameterType = Error("FEAT011", "Invalid parameter type", "Parameter type {{{0}}} on {1}: {2}");

    public static readonly DiagnosticDescriptor InvalidBinding = Error("FEAT012", "Invalid step definition", "{0}: {1}");

    public static readonly DiagnosticDescriptor UnusedPlaceholder = Error("FEAT013", "Unknown outline placeholder", "Step '{0}' uses <{1}>, which no column of the Examples at line {2} provides");

    public static readonly DiagnosticDescriptor ClassNameClash = Error("FEAT014", "Feature files with one test class", "{0} and {1} both become the test class {2}: rename one of them");

    public static readonly DiagnosticDescriptor SnapshotNameClash = Error("FEAT015", "Scenarios with one snapshot name", "{0} and {1} would share the snapshot files '{2}.*': rename one of them");

    public static readonly DiagnosticDescriptor UnusedExamplesColumn = new("FEAT016", "Examples column no step uses", "Examples of '{0}' give the column '{1}', but no step, table, doc string or the scenario's name uses <{1}>", Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidUtf8 = Error("FEAT017", "Invalid UTF-8", "{0} is not valid UTF-8 at line {1}, column {2} (the compiler read it as U+FFFD): save the file as UTF-8");

    public static readonly DiagnosticDescriptor InternalError = Error("FEAT099", "Feature generator internal error", "The feature generator failed while {0}: {1}. This is a bug in SpecKit; the feature was not changed.");

    public static DiagnosticDescriptor Find(string id) => id switch
    {
        "FEAT001" => UndefinedStep,
        "FEAT002" => AmbiguousStep,
        "FEAT003" => BadArgument,
        "FEAT004" => DuplicateScenario,
        "FEAT005" => OutlineWithoutExamples,
        "FEAT006" => DuplicateExamplesHeader,
        "FEAT007" => GherkinSyntax,
        "FEAT008" => ParameterCountMismatch,
        "FEAT009" => StepArgumentMismatch,
        "FEAT010" => InvalidExpression,
        "FEAT011" => InvalidParameterType,
        "FEAT012" => InvalidBinding,
        "FEAT013" => UnusedPlaceholder,
        "FEAT014" => ClassNameClash,
        "FEAT015" => SnapshotNameClash,
        "FEAT016" => UnusedExamplesColumn,
        "FEAT017" => InvalidUtf8,
        _ => InternalError,
    };

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
