using SpecKit.Mmu.Policy;

namespace SpecKit.Spec.Tests;

/// <summary>The operation policies the generator emits from spec/policy, in the base model and its variants.</summary>
[Trait("Category", "behaviour")]
public class PolicyTests
{
    [Fact]
    public void Base_change_pte_is_gone_and_the_clear_dirty_paths_record_nothing()
    {
        var rules = SpecKit.Mmu.MmuPolicy.Rules;
        Assert.Equal("base", rules.Model);
        Assert.False(rules["ChangePte"].Exists);
        Assert.All(new[] { "ClearDirtyGfnRange", "ClearDirtyPtMasked", "WrprotGfnRange", "AgeGfnRange" }, name => Assert.False(rules[name].RecordsDirty));
        Assert.False(rules["AgeGfnRange"].RecordsAccessed);
        Assert.Equal(FlushPolicy.Never, rules["AgeGfnRange"].Flush);
        Assert.Equal(YieldPolicy.FlushFirst, rules["ZapLeafs"].Yield);
        Assert.Equal(SpteChange.Writable | SpteChange.MmuWritable, rules["WriteProtectGfn"].Changes);
    }

    [Fact]
    public void Variants_override_only_the_keys_they_name()
    {
        var baseRules = SpecKit.Mmu.MmuPolicy.Rules;
        var recording = SpecKit.Mmu.Variants.ClearDirtyRecordsDirty.MmuPolicy.Rules;
        Assert.True(recording["ClearDirtyGfnRange"].RecordsDirty);
        Assert.Equal(baseRules["ClearDirtyGfnRange"] with { RecordsDirty = true, Title = recording["ClearDirtyGfnRange"].Title }, recording["ClearDirtyGfnRange"]);
        Assert.Equal(baseRules["ZapLeafs"], recording["ZapLeafs"]);

        var dead = SpecKit.Mmu.Variants.ChangePteDead.MmuPolicy.Rules["ChangePte"];
        var standalone = SpecKit.Mmu.Variants.ChangePteStandalone.MmuPolicy.Rules["ChangePte"];
        Assert.True(dead.Exists && standalone.Exists);
        Assert.Equal((Invocation.InsideInvalidation, Invocation.Standalone), (dead.Invocation, standalone.Invocation));
    }

    [Fact]
    public void The_tdx_variants_change_only_how_the_unmap_picks_its_roots()
    {
        var baseUnmap = SpecKit.Mmu.MmuPolicy.Rules["UnmapGfnRange"];
        var v19 = SpecKit.Mmu.Variants.TdxZapPrivateV19.MmuPolicy.Rules["UnmapGfnRange"];
        var exclude = SpecKit.Mmu.Variants.TdxExcludeFlags.MmuPolicy.Rules["UnmapGfnRange"];
        Assert.Equal(new RootPolicy(RootFilter.AttrFilter, IncludesInvalidRoots: true), baseUnmap.Roots);
        Assert.Equal(baseUnmap with { Title = v19.Title, Roots = new RootPolicy(RootFilter.ZapPrivateFlag, IncludesInvalidRoots: true) }, v19);
        Assert.Equal(baseUnmap with { Title = exclude.Title, Roots = new RootPolicy(RootFilter.ExcludeFlags, IncludesInvalidRoots: true) }, exclude);
        Assert.Equal(SpecKit.Mmu.MmuPolicy.Rules["AgeGfnRange"], SpecKit.Mmu.Variants.TdxExcludeFlags.MmuPolicy.Rules["AgeGfnRange"]);

        // The unmap picks roots; the leaf walk in each is ZapLeafs', so no loop is emitted for it.
        Assert.Throws<KeyNotFoundException>(() => SpecKit.Mmu.MmuPolicy.Rules.RangeOp("UnmapGfnRange"));
        Assert.NotNull(SpecKit.Mmu.MmuPolicy.Rules.RangeOp("ZapLeafs"));
    }
}
