using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu.Tdx;

/// <summary>One value that decides an unmap, named as the kernel names it, with where it comes from.</summary>
public sealed record UnmapStep(string What, string Value, string Source);

/// <summary>
/// What one design's kvm_tdp_mmu_unmap_gfn_range() does with a range: the root kinds whose
/// leaves it zaps, and the values on the way (zap_private, exclude_*, attr_filter, types).
/// </summary>
/// <param name="Zaps">
/// The root kinds of this VM whose leaves are zapped, with <see cref="KvmTdpMmuRootTypes.Invalid"/>
/// when invalid roots of those kinds are zapped too. A VM without a shared mask has no mirror
/// roots, so MIRROR never appears for it.
/// </param>
public sealed record UnmapDecision(RootFilter Design, bool MirroredVm, KvmGfnRange Range, KvmTdpMmuRootTypes Zaps, IReadOnlyList<UnmapStep> Why)
{
    /// <summary>
    /// Whether a root with <paramref name="root"/>'s role is zapped. The merged design asks
    /// tdp_mmu_root_match(); the pre-merge designs walk every root (only_valid = false) and
    /// skip by kind in the loop, so they match the same way but never WARN.
    /// </summary>
    public bool ZapsRoot(TdpRootRole root)
    {
        if (Design == RootFilter.AttrFilter)
        {
            return TdpMmuRoots.RootMatch(root, Zaps);
        }

        return (!root.Invalid || (Zaps & KvmTdpMmuRootTypes.Invalid) != 0) && (Zaps & root.Kind) != 0;
    }
}

/// <summary>
/// One design of root selection in kvm_tdp_mmu_unmap_gfn_range(): what each caller puts in
/// struct kvm_gfn_range, and what the function makes of it. A model's spec picks the design
/// (Operation UnmapGfnRange, keys RootFilter and InvalidRoots): <see cref="For(MmuRules)"/>.
/// </summary>
public abstract class UnmapDesign(RootPolicy roots)
{
    /// <summary>The root policy this design runs under (its RootFilter, and whether invalid roots are walked).</summary>
    public RootPolicy Roots { get; } = roots;

    /// <summary>The design a model's spec declares for kvm_tdp_mmu_unmap_gfn_range().</summary>
    public static UnmapDesign For(MmuRules rules) =>
        For(rules.UnmapGfnRange.Roots ?? throw new InvalidOperationException($"model '{rules.Model}': UnmapGfnRange declares no RootFilter"));

    public static UnmapDesign For(RootPolicy roots) => roots.Filter switch
    {
        RootFilter.AttrFilter => new AttrFilterDesign(roots),
        RootFilter.ZapPrivateFlag => new ZapPrivateFlagDesign(roots),
        RootFilter.ExcludeFlags => new ExcludeFlagsDesign(roots),
        _ => throw new ArgumentOutOfRangeException(nameof(roots), roots.Filter, "no such RootFilter"),
    };

    /// <summary>
    /// What <paramref name="caller"/> puts in struct kvm_gfn_range in this design's kernel;
    /// <paramref name="attribute"/> is the attribute being set, for a memory-attribute change only.
    /// </summary>
    public CallerRange CallerRange(bool mirroredVm, UnmapCaller caller, MemoryAttribute? attribute)
    {
        if ((caller == UnmapCaller.SetMemoryAttributes) != attribute.HasValue)
        {
            throw new ArgumentException($"{UnmapCallers.Describe(caller)} {(attribute.HasValue ? "carries no attribute" : "needs the attribute it sets")}", nameof(attribute));
        }

        return Build(mirroredVm, caller, attribute);
    }

    /// <summary>This design's kvm_tdp_mmu_unmap_gfn_range(): the root kinds it zaps for <paramref name="range"/>, and why.</summary>
    public abstract UnmapDecision UnmapRootTypes(bool mirroredVm, KvmGfnRange range);

    protected abstract CallerRange Build(bool mirroredVm, UnmapCaller caller, MemoryAttribute? attribute);

    /// <summary>KVM_INVALID_ROOTS when the policy walks invalid roots (all three designs do).</summary>
    protected KvmTdpMmuRootTypes InvalidIfWalked => Roots.IncludesInvalidRoots ? KvmTdpMmuRootTypes.Invalid : KvmTdpMmuRootTypes.None;

    protected UnmapStep InvalidRootsStep() => new(
        "invalid roots",
        Roots.IncludesInvalidRoots ? "walked: a vCPU may still use one until it is freed" : "skipped",
        "policy UnmapGfnRange InvalidRoots");

    protected static KvmTdpMmuRootTypes RootsOf(bool mirroredVm) =>
        mirroredVm ? KvmTdpMmuRootTypes.All : KvmTdpMmuRootTypes.Direct | KvmTdpMmuRootTypes.Invalid;

    protected static ulong AttributesOf(MemoryAttribute? attribute) =>
        attribute == MemoryAttribute.Private ? KvmGfnRange.KvmMemoryAttributePrivate : 0;

    protected static string Bool(bool value) => value ? "true" : "false";
}

/// <summary>
/// The merged design (v6.14; TDX MMU prep, 20240718211230.1492011-3 and -10..-12): callers set
/// range->attr_filter, and
/// <c>types = kvm_gfn_range_filter_to_root_types(kvm, range->attr_filter) | KVM_INVALID_ROOTS</c>.
/// </summary>
public sealed class AttrFilterDesign(RootPolicy roots) : UnmapDesign(roots)
{
    protected override CallerRange Build(bool mirroredVm, UnmapCaller caller, MemoryAttribute? attribute) => caller switch
    {
        UnmapCaller.HvaNotifier => new(
            new KvmGfnRange(caller) { AttrFilter = KvmGfnRangeFilter.Shared },
            "kvm_main.c __kvm_handle_hva_range: HVA-based notifications aren't relevant to private mappings"),
        UnmapCaller.GuestMemfdInvalidate => new(
            new KvmGfnRange(caller) { AttrFilter = KvmGfnRangeFilter.Private },
            "guest_memfd.c kvm_gmem_invalidate_begin"),
        UnmapCaller.SetMemoryAttributes => new(
            new KvmGfnRange(caller)
            {
                Attributes = AttributesOf(attribute),
                AttrFilter = attribute == MemoryAttribute.Private ? KvmGfnRangeFilter.Shared : KvmGfnRangeFilter.Private,
            },
            "mmu.c kvm_arch_pre_set_memory_attributes: \"Unmap the old attribute page\""),
        UnmapCaller.MemslotZap => new(
            new KvmGfnRange(caller) { AttrFilter = KvmGfnRangeFilter.Private | KvmGfnRangeFilter.Shared },
            "mmu.c kvm_mmu_zap_memslot (20241112073426.21997-1-yan.y.zhao); kvm_arch_flush_shadow_memslot calls it "
            + "unless kvm_memslot_flush_zap_all() (KVM_X86_DEFAULT_VM with KVM_X86_QUIRK_SLOT_ZAP_ALL)"),
        _ => throw new ArgumentOutOfRangeException(nameof(caller)),
    };

    public override UnmapDecision UnmapRootTypes(bool mirroredVm, KvmGfnRange range)
    {
        var filtered = TdpMmuRoots.FilterToRootTypes(mirroredVm, range.AttrFilter);
        var types = filtered | InvalidIfWalked;
        UnmapStep[] why =
        [
            new("range", ".attr_filter = " + range.AttrFilterName, "struct kvm_gfn_range (v6.14)"),
            new(
                "filter_to_root_types",
                TdpMmuRoots.KernelName(filtered) + (mirroredVm ? "" : " (not a mirrored VM: always direct)"),
                "tdp_mmu.h kvm_gfn_range_filter_to_root_types"),
            InvalidRootsStep(),
            new("types", TdpMmuRoots.KernelName(types), "tdp_mmu.c kvm_tdp_mmu_unmap_gfn_range, then tdp_mmu_root_match per root"),
        ];
        return new UnmapDecision(Roots.Filter, mirroredVm, range, types & RootsOf(mirroredVm), why);
    }
}

/// <summary>
/// v19 (Isaku Yamahata, 2024-02-26, [PATCH v19 059/130] "KVM: x86/tdp_mmu: Don't zap private
/// pages for unsupported cases"): kvm_tdp_mmu_unmap_gfn_range() computes zap_private from
/// kvm_gfn_shared_mask(), only_private/only_shared and the new attributes, and passes
/// <c>zap_private &amp;&amp; is_private_sp(root)</c> to tdp_mmu_zap_leafs() for every root. With the
/// flag false, tdp_mmu_zap_leafs() skips a private root whole (<c>return false</c>); it never
/// skips a shared root and never skips single SPTEs.
/// </summary>
public sealed class ZapPrivateFlagDesign(RootPolicy roots) : UnmapDesign(roots)
{
    protected override CallerRange Build(bool mirroredVm, UnmapCaller caller, MemoryAttribute? attribute) => caller switch
    {
        UnmapCaller.HvaNotifier => new(
            new KvmGfnRange(caller) { OnlyShared = true },
            "v19 011/130 kvm_main.c __kvm_handle_hva_range: only_private = false, only_shared = true"),
        UnmapCaller.GuestMemfdInvalidate => new(
            new KvmGfnRange(caller) { OnlyPrivate = true },
            "v19 011/130 guest_memfd.c kvm_gmem_invalidate_begin: only_private = true, only_shared = false"),
        UnmapCaller.SetMemoryAttributes => new(
            new KvmGfnRange(caller) { Attributes = AttributesOf(attribute) },
            "v19 011/130 kvm_main.c kvm_handle_gfn_range: only_private = only_shared = false; kvm_vm_set_mem_attributes: "
            + "arg.attributes = the new attributes [unverified: v19's kvm_arch_pre_set_memory_attributes; v6.8's passes the range on unchanged]"),
        UnmapCaller.MemslotZap when mirroredVm => new(
            new KvmGfnRange(caller) { OnlyPrivate = true, OnlyShared = true },
            "v19 059/130 mmu.c kvm_mmu_zap_memslot: \"This handles both private gfn and shared gfn\""),
        UnmapCaller.MemslotZap => new(
            null,
            "v19 059/130 mmu.c kvm_arch_flush_shadow_memslot: kvm_gfn_shared_mask() == 0, so kvm_mmu_zap_all_fast()"),
        _ => throw new ArgumentOutOfRangeException(nameof(caller)),
    };

    public override UnmapDecision UnmapRootTypes(bool mirroredVm, KvmGfnRange range)
    {
        var why = new List<UnmapStep>
        {
            new(
                "range",
                $".only_private = {Bool(range.OnlyPrivate)}, .only_shared = {Bool(range.OnlyShared)}"
                + (range.Caller == UnmapCaller.SetMemoryAttributes ? ", .arg.attributes = " + range.AttributesName : ""),
                "struct kvm_gfn_range (v19 011/130)"),
        };

        // v19 059/130: zap_private stays false unless the VM has a shared mask.
        var zapPrivate = false;
        if (!mirroredVm)
        {
            why.Add(new("zap_private", "false: kvm_gfn_shared_mask() == 0", "v19 059/130 kvm_tdp_mmu_unmap_gfn_range"));
        }
        else if (!range.OnlyPrivate && !range.OnlyShared)
        {
            zapPrivate = (range.Attributes & KvmGfnRange.KvmMemoryAttributePrivate) == 0;
            why.Add(new("zap_private", $"!(attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE) = {Bool(zapPrivate)} (\"attributes change\")", "v19 059/130 kvm_tdp_mmu_unmap_gfn_range"));
        }
        else
        {
            zapPrivate = range.OnlyPrivate;
            why.Add(new("zap_private", $"range->only_private = {Bool(zapPrivate)}", "v19 059/130 kvm_tdp_mmu_unmap_gfn_range"));
        }

        why.Add(new("shared roots", "tdp_mmu_zap_leafs(..., false): zapped (it skips only private roots)", "v19 059/130 tdp_mmu_zap_leafs"));
        why.Add(mirroredVm
            ? new(
                "private roots",
                zapPrivate
                    ? "tdp_mmu_zap_leafs(..., true): zapped"
                    : "tdp_mmu_zap_leafs(..., false): the whole root skipped by 'return false', which drops the flush owed by the roots zapped before it",
                zapPrivate ? "v19 059/130 tdp_mmu_zap_leafs" : "v19 059/130 tdp_mmu_zap_leafs; Chao Gao 2024-04-17: \"Should be return flush;\"")
            : new("private roots", "none in this VM", "is_private_sp() is false for every root"));
        why.Add(InvalidRootsStep());

        var zaps = KvmTdpMmuRootTypes.Direct | (zapPrivate ? KvmTdpMmuRootTypes.Mirror : KvmTdpMmuRootTypes.None) | InvalidIfWalked;
        return new UnmapDecision(Roots.Filter, mirroredVm, range, zaps & RootsOf(mirroredVm), why);
    }
}

/// <summary>
/// Seed 003 (Rick Edgecombe, 2024-04-20, reply to v19 059/130): callers set
/// exclude_private/exclude_shared, kvm_arch_pre_set_memory_attributes() choosing from the new
/// attribute; kvm_tdp_mmu_unmap_gfn_range() reads them only if kvm_gfn_shared_mask(), skips
/// the excluded roots, and tdp_mmu_zap_leafs() no longer looks at the root type. The seed shows
/// only this function and the attribute hook's role; the other callers are inferred (see each).
/// </summary>
public sealed class ExcludeFlagsDesign(RootPolicy roots) : UnmapDesign(roots)
{
    protected override CallerRange Build(bool mirroredVm, UnmapCaller caller, MemoryAttribute? attribute) => caller switch
    {
        UnmapCaller.HvaNotifier => new(
            new KvmGfnRange(caller) { ExcludePrivate = true },
            "[inferred: v19's only_shared = true, renamed (seed 003: 'Changing only_private/shared to exclude_private/shared'); "
            + "the enum that replaced it set KVM_PROCESS_SHARED here]"),
        UnmapCaller.GuestMemfdInvalidate => new(
            new KvmGfnRange(caller) { ExcludeShared = true },
            "[inferred: v19's only_private = true, renamed; the enum that replaced it set KVM_PROCESS_PRIVATE here]"),
        UnmapCaller.SetMemoryAttributes => new(
            new KvmGfnRange(caller)
            {
                Attributes = AttributesOf(attribute),
                ExcludePrivate = attribute == MemoryAttribute.Private,
                ExcludeShared = attribute == MemoryAttribute.Shared,
            },
            "seed 003: kvm_arch_pre_set_memory_attributes() chooses which private/shared alias to zap based on attribute "
            + "[inferred: the old attribute's alias, as the next public revision (PATCH v2 01/15, 2024-05-30) writes: \"Unmap the old attribute page\"]"),
        UnmapCaller.MemslotZap when mirroredVm => new(
            new KvmGfnRange(caller),
            "[inferred: v19 059/130 kvm_mmu_zap_memslot zaps both aliases; with exclude_* the zero default excludes nothing]"),
        UnmapCaller.MemslotZap => new(
            null,
            "[assumed as v19: kvm_arch_flush_shadow_memslot: kvm_gfn_shared_mask() == 0, so kvm_mmu_zap_all_fast(); the seed does not say]"),
        _ => throw new ArgumentOutOfRangeException(nameof(caller)),
    };

    public override UnmapDecision UnmapRootTypes(bool mirroredVm, KvmGfnRange range)
    {
        // Seed 003: the flags count only for a VM with a shared mask.
        var excludePrivate = mirroredVm && range.ExcludePrivate;
        var excludeShared = mirroredVm && range.ExcludeShared;
        UnmapStep[] why =
        [
            new("range", $".exclude_private = {Bool(range.ExcludePrivate)}, .exclude_shared = {Bool(range.ExcludeShared)}", "struct kvm_gfn_range (seed 003)"),
            new(
                "exclude_*",
                mirroredVm
                    ? $"exclude_private = {Bool(excludePrivate)}, exclude_shared = {Bool(excludeShared)}"
                    : "both false: kvm_gfn_shared_mask() == 0",
                "seed 003 kvm_tdp_mmu_unmap_gfn_range"),
            new("shared roots", excludeShared ? "skipped: if (exclude_shared && !is_private_sp(root)) continue;" : "zapped", "seed 003"),
            new(
                "private roots",
                !mirroredVm ? "none in this VM" : excludePrivate ? "skipped: if (exclude_private && is_private_sp(root)) continue;" : "zapped",
                "seed 003"),
            InvalidRootsStep(),
        ];

        var zaps = (excludeShared ? KvmTdpMmuRootTypes.None : KvmTdpMmuRootTypes.Direct)
            | (excludePrivate ? KvmTdpMmuRootTypes.None : KvmTdpMmuRootTypes.Mirror)
            | InvalidIfWalked;
        return new UnmapDecision(Roots.Filter, mirroredVm, range, zaps & RootsOf(mirroredVm), why);
    }
}
