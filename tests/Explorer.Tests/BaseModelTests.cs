using SpecKit.Mmu;
using Xunit.Abstractions;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// The base model under a fixed-seed budget per kind of VM: no checker report and no exception.
/// A failure prints the shrunk counterexample as a feature (a defect of the model or the checker).
/// SPECKIT_EXPLORE_SEQUENCES raises the budget.
/// </summary>
public class BaseModelTests(ITestOutputHelper output)
{
    public const int DefaultSequences = 300;

    private static int Budget => Environment.GetEnvironmentVariable("SPECKIT_EXPLORE_SEQUENCES") is { Length: > 0 } n ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : DefaultSequences;

    [Theory]
    [InlineData(VmKind.Ept)]
    [InlineData(VmKind.Npt)]
    [InlineData(VmKind.Shadow)]
    [InlineData(VmKind.Tdx)]
    public void The_base_model_breaks_no_rule_and_throws_nothing(VmKind kind)
    {
        var result = Explorer.Explore(new ExploreOptions(kind, SpecModels.Base) { Seed = 2026, Sequences = Budget });
        output.WriteLine(result.Figures.ToString());
        Assert.True(result.Found is null, result.Found is { } f ? $"{f.Failure}\n{f.Feature}" : "");
        Assert.Equal(Budget, result.Figures.Sequences);
    }
}
