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
/// One xunit test: a scenario, or one row of an outline's Examples. A row's test is named by
/// the scenario's name with the row's values filled in (and the row's values after it when the
/// name has no placeholder), so a failure names the row without reading its arguments.
/// </summary>
/// <param name="ScenarioName">The name as written, placeholders and all: the snapshot files are named by it.</param>
/// <param name="Backend">
/// For a scenario tagged <c>@kvm</c>, which backend this test runs it on (<c>model</c> or
/// <c>kernel</c>): such a scenario is two tests; null for every other scenario.
/// </param>
internal sealed record BoundTest(
    string MethodName,
    string DisplayName,
    string ScenarioName,
    int Line,
    EquatableArray<string> Tags,
    BoundRow Row,
    string? Backend = null);

/// <summary>A scenario's hooks and steps; for an outline row, its label ("model=base") and the row's line.</summary>
internal sealed record BoundRow(string? Label, int? ExampleLine, EquatableArray<BoundCall> Before, EquatableArray<BoundStep> Steps, EquatableArray<BoundCall> After);

/// <param name="Definition">The step definition it binds: an index into the step library's table of definitions.</param>
/// <param name="Arguments">Each argument's start and length in <paramref name="Text"/>, in pairs (start -1: an optional group that did not match).</param>
internal sealed record BoundStep(string Keyword, string Text, int Line, string Call, int Definition, EquatableArray<int> Arguments);

/// <param name="Hook">The hook: an index into the step library's table of hooks.</param>
internal sealed record BoundCall(string Name, string Call, int Hook);

/// <summary>The binder's whole answer for one feature file.</summary>
internal sealed record FeatureResult(string HintName, BoundFeature? Feature, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A feature file whose path gives the same test class name as another's.</summary>
internal sealed record ClassNameClash(string Path, string OtherDisplayPath, string ClassName);
