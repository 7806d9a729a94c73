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
        Assert.False(rules.ChangePte.Exists);
        Assert.All(new[] { rules.ClearDirtyGfnRange, rules.ClearDirtyPtMasked, rules.WrprotGfnRange, rules.AgeGfnRange }, policy => Assert.False(policy.RecordsDirty));
        Assert.False(rules.AgeGfnRange.RecordsAccessed);
        Assert.Equal(FlushPolicy.Never, rules.AgeGfnRange.Flush);
        Assert.Equal(YieldPolicy.FlushFirst, rules.ZapLeafs.Yield);
        Assert.Equal(SpteChange.Writable | SpteChange.MmuWritable, rules.WriteProtectGfn.Changes);
    }

    [Fact]
    public void Variants_override_only_the_keys_they_name()
    {
        var baseRules = SpecKit.Mmu.MmuPolicy.Rules;
        var recording = SpecKit.Mmu.Variants.ClearDirtyRecordsDirty.MmuPolicy.Rules;
        Assert.True(recording.ClearDirtyGfnRange.RecordsDirty);
        Assert.Equal(baseRules.ClearDirtyGfnRange with { RecordsDirty = true, Title = recording.ClearDirtyGfnRange.Title }, recording.ClearDirtyGfnRange);
        Assert.Equal(baseRules.ZapLeafs, recording.ZapLeafs);

        var dead = SpecKit.Mmu.Variants.ChangePteDead.MmuPolicy.Rules.ChangePte;
        var standalone = SpecKit.Mmu.Variants.ChangePteStandalone.MmuPolicy.Rules.ChangePte;
        Assert.True(dead.Exists && standalone.Exists);
        Assert.Equal((Invocation.InsideInvalidation, Invocation.Standalone), (dead.Invocation, standalone.Invocation));
    }

    [Fact]
    public void The_tdx_variants_change_only_how_the_unmap_picks_its_roots()
    {
        var baseUnmap = SpecKit.Mmu.MmuPolicy.Rules.UnmapGfnRange;
        var v19 = SpecKit.Mmu.Variants.TdxZapPrivateV19.MmuPolicy.Rules.UnmapGfnRange;
        var exclude = SpecKit.Mmu.Variants.TdxExcludeFlags.MmuPolicy.Rules.UnmapGfnRange;
        Assert.Equal(new RootPolicy(RootFilter.AttrFilter, IncludesInvalidRoots: true), baseUnmap.Roots);
        Assert.Equal(baseUnmap with { Title = v19.Title, Roots = new RootPolicy(RootFilter.ZapPrivateFlag, IncludesInvalidRoots: true) }, v19);
        Assert.Equal(baseUnmap with { Title = exclude.Title, Roots = new RootPolicy(RootFilter.ExcludeFlags, IncludesInvalidRoots: true) }, exclude);
        Assert.Equal(SpecKit.Mmu.MmuPolicy.Rules.AgeGfnRange, SpecKit.Mmu.Variants.TdxExcludeFlags.MmuPolicy.Rules.AgeGfnRange);

    }

    [Fact]
    public void Sync_spte_rules_base_and_seed_004_patch_and_the_2022_loop()
    {
        var current = SpecKit.Mmu.MmuPolicy.Rules.SyncSpte;
        var lai = SpecKit.Mmu.Variants.SyncSpteLai2022.MmuPolicy.Rules.SyncSpte;
        var loop2022 = SpecKit.Mmu.Variants.SyncPage2022.MmuPolicy.Rules.SyncSpte;
        Assert.Equal(
            new SyncSptePolicy(SyncAction.Drop, SyncAction.Drop, SyncAction.Keep, SyncAction.Rebuild, SyncAction.Rebuild, SyncAction.Rebuild, RebuildAccessed: true),
            current.Sync);
        Assert.Equal(current with { Title = lai.Title, Sync = current.Sync! with { WriteAdded = SyncAction.Keep, OtherAccessChange = SyncAction.Drop } }, lai);
        Assert.Equal(current with { Title = loop2022.Title, Sync = current.Sync! with { AccessUnchanged = SyncAction.Rebuild, RebuildAccessed = false } }, loop2022);

        // Only sync_spte has a decision table.
        Assert.All(SpecKit.Mmu.MmuPolicy.Rules.Operations.Where(o => o.Operation != MmuOperation.SyncSpte), o => Assert.Null(o.Sync));
    }

    [Fact]
    public void Every_model_in_the_registry_has_every_operation_under_its_own_name()
    {
        Assert.Equal("base", SpecKit.Mmu.SpecModels.Base.Name);
        Assert.Equal(
            typeof(SpecKit.Mmu.SpecModelNames).GetFields().Select(f => (string)f.GetRawConstantValue()!).Order(StringComparer.Ordinal),
            SpecKit.Mmu.SpecModels.Names.Order(StringComparer.Ordinal));
        foreach (var model in SpecKit.Mmu.SpecModels.All)
        {
            Assert.Equal(model.Name, model.Rules.Model);
            Assert.Equal(Enum.GetValues<MmuOperation>(), model.Rules.Operations.Select(o => o.Operation));
        }

        Assert.Equal(SpecKit.Mmu.SpteValues.FROZEN_SPTE, SpecKit.Mmu.SpecModels.Base.Value("SpteValues", "FROZEN_SPTE"));
        Assert.Equal(SpecKit.Mmu.EptSpte.MmuWritableMask, SpecKit.Mmu.SpecModels.Base.Layout("EptSpte").Field("MmuWritable").Mask);
    }

    [Theory]
    [InlineData(0b101u, 0b101u, GpteChange.AccessUnchanged)]
    [InlineData(0b101u, 0b111u, GpteChange.WriteAdded)]
    [InlineData(0b111u, 0b101u, GpteChange.WriteRemoved)]
    [InlineData(0b111u, 0b011u, GpteChange.OtherAccessChange)]
    [InlineData(0b001u, 0b110u, GpteChange.OtherAccessChange)]
    [InlineData(0b100u, 0b010u, GpteChange.OtherAccessChange)]
    public void Access_changes_are_classified_as_seed_004_compares_them(uint old, uint now, GpteChange expected) =>
        Assert.Equal(expected, SyncSptePolicy.Classify(old, now));
}
