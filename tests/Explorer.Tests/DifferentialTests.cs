using SpecKit.Mmu;
using Xunit.Abstractions;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// Variants that are correct but different are told apart from the base by running both on the
/// same cases: v19's design of kvm_tdp_mmu_unmap_gfn_range (seed 003) differs from the merged
/// one, and the first differing step is printed as a feature whose last step asserts the base's
/// outcome; Rick Edgecombe's exclude flags agree with the merged attr_filter on a TDX VM (as
/// features/tdx/unmap-designs.feature's table says: they differ only on a SW_PROTECTED VM's
/// memslot zap, a VM the explorer does not make); ChangePteDead is the base with another log.
/// </summary>
public class DifferentialTests(ITestOutputHelper output)
{
    [Fact]
    public void The_v19_TDX_design_is_told_apart_from_the_merged_one_at_its_first_differing_step()
    {
        var (figures, found) = Counterexamples.V19Difference.Value;
        output.WriteLine(figures.ToString());
        var difference = found ?? throw new Xunit.Sdk.XunitException($"TdxZapPrivateV19 never differed from base in {figures}");
        output.WriteLine(difference.Feature);
        Assert.Contains("\n    Then ", difference.Feature.Split("  Scenario:")[1], StringComparison.Ordinal);

        // Under the variant the printed feature fails at its last step, which asserts what the base observed.
        var failure = Counterexamples.Ran.Value[Counterexamples.V19Path];
        output.WriteLine(failure);
        Assert.NotNull(failure);
        Assert.Contains($"FAILED  Then {difference.Feature.TrimEnd().Split('\n')[^1].Trim()[5..]}", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ChangePteDead", VmKind.Ept)]
    [InlineData("TdxExcludeFlags", VmKind.Tdx)]
    public void A_variant_the_spec_says_agrees_with_the_base_agrees(string model, VmKind kind)
    {
        var (figures, found) = Differential.Explore(kind, SpecModels.Base, SpecModels.Named(model), seed: 4, sequences: 200, time: null);
        output.WriteLine(figures.ToString());
        Assert.True(found is null, found?.Feature);
    }
}
