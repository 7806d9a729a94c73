using SpecKit.Mmu;
using Xunit.Abstractions;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// The base model under a fixed-seed budget per kind of VM: no checker report and no exception.
/// A failure prints the shrunk counterexample as a feature (a defect of the model or the checker).
/// SPECKIT_EXPLORE_SEQUENCES sets the budget of every kind (100000 for the long run, opt-in);
/// the suite's budget fits CI: shadow-paging runs are about 20x slower than TDP ones.
/// </summary>
public class BaseModelTests(ITestOutputHelper output)
{
    private static int Budget(VmKind kind) =>
        Environment.GetEnvironmentVariable("SPECKIT_EXPLORE_SEQUENCES") is { Length: > 0 } n ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture)
        : kind == VmKind.Shadow ? 200 : 1000;

    [Theory]
    [InlineData(VmKind.Ept)]
    [InlineData(VmKind.Npt)]
    [InlineData(VmKind.Shadow)]
    [InlineData(VmKind.Tdx)]
    public void The_base_model_breaks_no_rule_and_throws_nothing(VmKind kind)
    {
        var result = Explorer.Explore(new ExploreOptions(kind, SpecModels.Base) { Seed = 2026, Sequences = Budget(kind) });
        output.WriteLine(result.Figures.ToString());
        Assert.True(result.Found is null, result.Found is { } f ? $"{f.Failure}\n{f.Feature}" : "");
        Assert.Equal(Budget(kind), result.Figures.Sequences);
    }
}
