namespace SpecKit.Features;

/// <summary>Which scenario is running: for messages, snapshot names and hooks.</summary>
/// <param name="FeatureFile">The feature file relative to the repository, e.g. <c>features/tdp/zap.feature</c>.</param>
/// <param name="ExampleLabel">For a row of a Scenario Outline, the row's values, e.g. <c>level=2, gfn=0x200</c>.</param>
public sealed record ScenarioInfo(
    string FeatureFile,
    string FeatureName,
    string ScenarioName,
    string? ExampleLabel,
    int Line,
    IReadOnlyList<string> Tags)
{
    /// <summary>The name the test runner shows: for an outline row, with the row's values in place of its placeholders.</summary>
    public string DisplayName { get; init; } = ScenarioName;

    /// <summary>For an outline row, the line of its Examples row.</summary>
    public int? ExampleLine { get; init; }

    /// <summary>For a scenario tagged <c>@kvm</c>, the backend this test runs it on (<c>model</c> or <c>kernel</c>); otherwise null.</summary>
    public string? Backend { get; init; }
}
