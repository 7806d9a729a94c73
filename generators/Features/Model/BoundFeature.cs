namespace SpecKit.Generators.Features.Model;

// A feature after binding: every step resolved to the C# call that runs it. This is what the
// emitter prints; it is compared by value, so an unchanged feature is not re-emitted.

internal sealed record BoundFeature(
    string ClassName,
    string FeatureFile,
    string FeatureName,
    string LinePath,
    EquatableArray<string> Tags,
    EquatableArray<BoundTest> Tests);

/// <summary>
/// One xunit test: a Fact for a scenario (one row, no label), or a Theory for one Examples
/// block of an outline (a row per example, with a readable label).
/// </summary>
internal sealed record BoundTest(
    string MethodName,
    string DisplayName,
    string ScenarioName,
    int Line,
    EquatableArray<string> Tags,
    bool IsTheory,
    EquatableArray<BoundRow> Rows);

internal sealed record BoundRow(string? Label, EquatableArray<BoundCall> Before, EquatableArray<BoundStep> Steps, EquatableArray<BoundCall> After);

internal sealed record BoundStep(string Keyword, string Text, int Line, string Call);

internal sealed record BoundCall(string Name, string Call);

/// <summary>The binder's whole answer for one feature file.</summary>
internal sealed record FeatureResult(string HintName, BoundFeature? Feature, EquatableArray<DiagnosticInfo> Diagnostics);
