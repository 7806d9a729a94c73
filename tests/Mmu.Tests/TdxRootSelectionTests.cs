using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdx;
using static SpecKit.Mmu.Tdx.KvmTdpMmuRootTypes;

namespace SpecKit.Mmu.Tests;

/// <summary>
/// The TDP MMU's root selection (tdp_mmu.h kvm_gfn_range_filter_to_root_types, tdp_mmu.c
/// tdp_mmu_root_match, v6.14) and the three designs of kvm_tdp_mmu_unmap_gfn_range() that
/// seed 003 compares, each picked by a model's spec.
/// </summary>
public class TdxRootSelectionTests
{
    private static readonly TdpRootRole ValidDirect = new(IsMirror: false, Invalid: false);
    private static readonly TdpRootRole ValidMirror = new(IsMirror: true, Invalid: false);
    private static readonly TdpRootRole InvalidDirect = new(IsMirror: false, Invalid: true);
    private static readonly TdpRootRole InvalidMirror = new(IsMirror: true, Invalid: true);

    [Theory]
    [InlineData(KvmGfnRangeFilter.Shared, Direct)]
    [InlineData(KvmGfnRangeFilter.Private, Mirror)]
    [InlineData(KvmGfnRangeFilter.Shared | KvmGfnRangeFilter.Private, Direct | Mirror)]
    public void A_mirrored_vm_maps_private_to_mirror_and_shared_to_direct(KvmGfnRangeFilter filter, KvmTdpMmuRootTypes expected) =>
        Assert.Equal(expected, TdpMmuRoots.FilterToRootTypes(mirroredVm: true, filter));

    [Theory]
    [InlineData(KvmGfnRangeFilter.None)]
    [InlineData(KvmGfnRangeFilter.Shared)]
    [InlineData(KvmGfnRangeFilter.Private)]
    [InlineData(KvmGfnRangeFilter.Shared | KvmGfnRangeFilter.Private)]
    public void A_vm_without_mirror_roots_always_gets_direct_roots(KvmGfnRangeFilter filter) =>
        Assert.Equal(Direct, TdpMmuRoots.FilterToRootTypes(mirroredVm: false, filter));

    [Fact]
    public void An_empty_filter_on_a_mirrored_vm_is_a_warn()
    {
        var warn = Assert.Throws<KvmWarnException>(() => TdpMmuRoots.FilterToRootTypes(mirroredVm: true, KvmGfnRangeFilter.None));
        Assert.Contains("kvm_gfn_range_filter_to_root_types", warn.Message, StringComparison.Ordinal);
    }

    [Theory]
    // A valid root needs its own kind.
    [InlineData(false, false, Direct, true)]
    [InlineData(false, false, Mirror, false)]
    [InlineData(true, false, Mirror, true)]
    [InlineData(true, false, Direct, false)]
    [InlineData(true, false, Valid, true)]
    // An invalid root needs KVM_INVALID_ROOTS, and its own kind as well.
    [InlineData(false, true, Direct, false)]
    [InlineData(false, true, Direct | Invalid, true)]
    [InlineData(false, true, Mirror | Invalid, false)]
    [InlineData(true, true, Mirror | Invalid, true)]
    [InlineData(true, true, All, true)]
    [InlineData(true, true, Valid, false)]
    // KVM_INVALID_ROOTS does not make a valid root match.
    [InlineData(false, false, Mirror | Invalid, false)]
    public void Tdp_mmu_root_match(bool isMirror, bool invalid, KvmTdpMmuRootTypes types, bool expected) =>
        Assert.Equal(expected, TdpMmuRoots.RootMatch(new TdpRootRole(isMirror, invalid), types));

    [Theory]
    [InlineData(None)]
    [InlineData(Invalid)]
    public void Root_types_without_a_valid_kind_are_a_warn(KvmTdpMmuRootTypes types)
    {
        var warn = Assert.Throws<KvmWarnException>(() => TdpMmuRoots.RootMatch(ValidDirect, types));
        Assert.Contains("names no valid root kind", warn.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_spec_walks_invalid_roots_for_an_unmap_and_not_for_aging()
    {
        var rules = MmuPolicy.Rules;
        Assert.Equal(new RootPolicy(RootFilter.AttrFilter, IncludesInvalidRoots: true), rules.UnmapGfnRange.Roots);
        Assert.Equal(new RootPolicy(RootFilter.AttrFilter, IncludesInvalidRoots: false), rules.AgeGfnRange.Roots);
        Assert.Null(rules.ZapLeafs.Roots);

        Assert.Equal(Direct | Invalid, TdpMmuRoots.ForAttrFilter(rules.UnmapGfnRange.Roots!, mirroredVm: true, KvmGfnRangeFilter.Shared));
        Assert.Equal(Direct, TdpMmuRoots.AgeRootTypes(rules, mirroredVm: true, KvmGfnRangeFilter.Shared));
        Assert.False(TdpMmuRoots.RootMatch(InvalidDirect, TdpMmuRoots.AgeRootTypes(rules, mirroredVm: true, KvmGfnRangeFilter.Shared)));
    }

    [Fact]
    public void Each_model_gets_the_design_its_spec_declares()
    {
        Assert.IsType<AttrFilterDesign>(UnmapDesign.For(SpecModels.Named("base").Rules));
        Assert.IsType<ZapPrivateFlagDesign>(UnmapDesign.For(SpecModels.Named("TdxZapPrivateV19").Rules));
        Assert.IsType<ExcludeFlagsDesign>(UnmapDesign.For(SpecModels.Named("TdxExcludeFlags").Rules));

        // A variant that is not about TDX keeps the merged design.
        Assert.IsType<AttrFilterDesign>(UnmapDesign.For(SpecModels.Named("ZapYieldWithoutFlush").Rules));
    }

    [Fact]
    public void V19_zaps_shared_roots_even_for_a_private_only_range()
    {
        var v19 = UnmapDesign.For(new RootPolicy(RootFilter.ZapPrivateFlag, IncludesInvalidRoots: true));
        var decision = v19.UnmapRootTypes(mirroredVm: true, new KvmGfnRange(UnmapCaller.GuestMemfdInvalidate) { OnlyPrivate = true });
        Assert.Equal(All, decision.Zaps);
        Assert.Contains(decision.Why, s => s.What == "zap_private" && s.Value == "range->only_private = true");
        Assert.True(decision.ZapsRoot(ValidDirect));
    }

    [Fact]
    public void V19_skips_private_roots_whole_for_a_shared_only_range_and_drops_the_flush()
    {
        var v19 = UnmapDesign.For(new RootPolicy(RootFilter.ZapPrivateFlag, IncludesInvalidRoots: true));
        var decision = v19.UnmapRootTypes(mirroredVm: true, new KvmGfnRange(UnmapCaller.HvaNotifier) { OnlyShared = true });
        Assert.Equal(Direct | Invalid, decision.Zaps);
        Assert.False(decision.ZapsRoot(ValidMirror));
        Assert.False(decision.ZapsRoot(InvalidMirror));
        Assert.True(decision.ZapsRoot(InvalidDirect));
        Assert.Contains(decision.Why, s => s.What == "private roots" && s.Value.Contains("drops the flush", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(MemoryAttribute.Private, false)]
    [InlineData(MemoryAttribute.Shared, true)]
    public void V19_decides_an_attribute_change_by_the_new_attributes(MemoryAttribute attribute, bool zapsPrivate)
    {
        var v19 = UnmapDesign.For(new RootPolicy(RootFilter.ZapPrivateFlag, IncludesInvalidRoots: true));
        var range = v19.CallerRange(mirroredVm: true, UnmapCaller.SetMemoryAttributes, attribute).Range!;
        Assert.False(range.OnlyPrivate || range.OnlyShared);
        Assert.Equal(zapsPrivate, (v19.UnmapRootTypes(mirroredVm: true, range).Zaps & Mirror) != 0);
    }

    [Fact]
    public void Without_a_shared_mask_the_exclude_flags_are_ignored()
    {
        var exclude = UnmapDesign.For(new RootPolicy(RootFilter.ExcludeFlags, IncludesInvalidRoots: true));
        var range = new KvmGfnRange(UnmapCaller.HvaNotifier) { ExcludePrivate = true, ExcludeShared = true };
        Assert.Equal(Invalid, exclude.UnmapRootTypes(mirroredVm: true, range).Zaps);
        Assert.Equal(Direct | Invalid, exclude.UnmapRootTypes(mirroredVm: false, range).Zaps);

        // Excluding both kinds skips every root, and unlike tdp_mmu_root_match that is no WARN.
        Assert.All(TdpRootRole.OneOfEach(mirroredVm: true), root => Assert.False(exclude.UnmapRootTypes(mirroredVm: true, range).ZapsRoot(root)));
    }

    [Fact]
    public void A_policy_without_invalid_roots_leaves_them_alone_in_every_design()
    {
        foreach (var filter in Enum.GetValues<RootFilter>())
        {
            var design = UnmapDesign.For(new RootPolicy(filter, IncludesInvalidRoots: false));
            var range = design.CallerRange(mirroredVm: true, UnmapCaller.MemslotZap, null).Range!;
            var decision = design.UnmapRootTypes(mirroredVm: true, range);
            Assert.Equal(Valid, decision.Zaps);
            Assert.False(decision.ZapsRoot(InvalidDirect), filter.ToString());
        }
    }

    [Fact]
    public void Only_a_memory_attribute_change_carries_an_attribute()
    {
        var merged = UnmapDesign.For(SpecModels.Named("base").Rules);
        Assert.Throws<ArgumentException>(() => merged.CallerRange(mirroredVm: true, UnmapCaller.SetMemoryAttributes, null));
        Assert.Throws<ArgumentException>(() => merged.CallerRange(mirroredVm: true, UnmapCaller.HvaNotifier, MemoryAttribute.Private));
    }

    [Fact]
    public void A_memslot_zap_without_a_shared_mask_never_reached_the_unmap_before_the_merge()
    {
        var v19 = UnmapOutcome.Run(SpecModels.Named("TdxZapPrivateV19").Rules, mirroredVm: false, UnmapCaller.MemslotZap, null);
        var merged = UnmapOutcome.Run(SpecModels.Named("base").Rules, mirroredVm: false, UnmapCaller.MemslotZap, null);
        Assert.Null(v19.Decision);
        Assert.Equal(UnmapOutcome.NotReached, v19.Zaps);
        Assert.Empty(v19.RootsWalked);
        Assert.Equal("DIRECT, INVALID", merged.Zaps);
        Assert.Equal([ValidDirect, InvalidDirect], merged.RootsWalked);
    }

    [Fact]
    public void The_comparison_covers_every_request_once_and_compares_against_the_first_model()
    {
        var comparison = UnmapComparison.Of([SpecModels.Named("base").Rules, SpecModels.Named("TdxZapPrivateV19").Rules]);
        Assert.Equal(10, comparison.Rows.Count);
        Assert.Equal(comparison.Rows.Count, comparison.Rows.Select(r => (r.MirroredVm, r.Caller, r.Attribute)).Distinct().Count());

        var gmem = comparison.Rows.Single(r => r.MirroredVm && r.Caller == UnmapCaller.GuestMemfdInvalidate);
        Assert.False(gmem.Agree);
        Assert.Equal(["TdxZapPrivateV19"], gmem.DifferFromFirst);
        Assert.True(comparison.Rows.Single(r => r.MirroredVm && r.Caller == UnmapCaller.HvaNotifier).Agree);
    }

    [Theory]
    [InlineData(None, "none", "0")]
    [InlineData(Direct | Invalid, "DIRECT, INVALID", "KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS")]
    [InlineData(All, "DIRECT, MIRROR, INVALID", "KVM_DIRECT_ROOTS | KVM_MIRROR_ROOTS | KVM_INVALID_ROOTS")]
    public void Root_types_are_written_in_the_kernels_names(KvmTdpMmuRootTypes types, string shortName, string kernelName)
    {
        Assert.Equal(shortName, TdpMmuRoots.Format(types));
        Assert.Equal(kernelName, TdpMmuRoots.KernelName(types));
    }
}
