using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu.Tdx;

/// <summary>
/// enum kvm_tdp_mmu_root_types (tdp_mmu.h, v6.14): which roots a TDP MMU walk visits. A TDX VM
/// has mirror roots (private memory, reflected into the S-EPT) beside its direct roots (shared
/// memory); any other VM has direct roots only.
/// </summary>
[Flags]
public enum KvmTdpMmuRootTypes
{
    None = 0,

    /// <summary>KVM_INVALID_ROOTS: roots already invalidated, which vCPUs may still hold until they are freed.</summary>
    Invalid = 1 << 0,

    /// <summary>KVM_DIRECT_ROOTS: the normal roots; in a TDX VM they map the shared alias.</summary>
    Direct = 1 << 1,

    /// <summary>KVM_MIRROR_ROOTS: a TDX VM's private memory.</summary>
    Mirror = 1 << 2,

    /// <summary>KVM_VALID_ROOTS.</summary>
    Valid = Direct | Mirror,

    /// <summary>KVM_ALL_ROOTS.</summary>
    All = Valid | Invalid,
}

/// <summary>enum kvm_gfn_range_filter (kvm_host.h, v6.14), carried in kvm_gfn_range.attr_filter.</summary>
[Flags]
public enum KvmGfnRangeFilter
{
    None = 0,

    /// <summary>KVM_FILTER_SHARED.</summary>
    Shared = 1 << 0,

    /// <summary>KVM_FILTER_PRIVATE.</summary>
    Private = 1 << 1,
}

/// <summary>The two bits of a root's kvm_mmu_page_role that tdp_mmu_root_match() reads: is_mirror and invalid.</summary>
public readonly record struct TdpRootRole(bool IsMirror, bool Invalid)
{
    /// <summary>The root types this root belongs to, the invalid bit aside.</summary>
    public KvmTdpMmuRootTypes Kind => IsMirror ? KvmTdpMmuRootTypes.Mirror : KvmTdpMmuRootTypes.Direct;

    /// <summary>One root of each kind a VM can have, valid and invalid: a mirrored (TDX) VM has four, any other VM two.</summary>
    public static IReadOnlyList<TdpRootRole> OneOfEach(bool mirroredVm) => mirroredVm
        ? [new(false, false), new(true, false), new(false, true), new(true, true)]
        : [new(false, false), new(false, true)];

    public override string ToString() => $"{(Invalid ? "invalid" : "valid")} {(IsMirror ? "mirror" : "direct")}";
}

/// <summary>The TDP MMU's root selection (tdp_mmu.h, tdp_mmu.c as merged in v6.14).</summary>
public static class TdpMmuRoots
{
    /// <summary>
    /// kvm_gfn_range_filter_to_root_types(): a VM without mirror roots always gets
    /// KVM_DIRECT_ROOTS; otherwise KVM_FILTER_PRIVATE selects the mirror roots and
    /// KVM_FILTER_SHARED the direct ones, and a filter that selects nothing is a WARN.
    /// </summary>
    public static KvmTdpMmuRootTypes FilterToRootTypes(bool mirroredVm, KvmGfnRangeFilter filter)
    {
        if (!mirroredVm)
        {
            return KvmTdpMmuRootTypes.Direct;
        }

        var types = KvmTdpMmuRootTypes.None;
        if ((filter & KvmGfnRangeFilter.Private) != 0)
        {
            types |= KvmTdpMmuRootTypes.Mirror;
        }

        if ((filter & KvmGfnRangeFilter.Shared) != 0)
        {
            types |= KvmTdpMmuRootTypes.Direct;
        }

        KvmWarn.On(types == KvmTdpMmuRootTypes.None, $"kvm_gfn_range_filter_to_root_types: attr_filter 0x{(int)filter:x} selects no root");
        return types;
    }

    /// <summary>
    /// tdp_mmu_root_match(): <paramref name="types"/> naming no valid kind is a WARN; an invalid
    /// root matches only if KVM_INVALID_ROOTS is asked for, and then, like a valid one, only if
    /// its own kind (mirror or direct) is asked for too.
    /// </summary>
    public static bool RootMatch(TdpRootRole root, KvmTdpMmuRootTypes types)
    {
        KvmWarn.On((types & KvmTdpMmuRootTypes.Valid) == 0, $"tdp_mmu_root_match: {KernelName(types)} names no valid root kind");
        if (root.Invalid && (types & KvmTdpMmuRootTypes.Invalid) == 0)
        {
            return false;
        }

        return (types & root.Kind) != 0;
    }

    /// <summary>
    /// The roots an operation with root policy <paramref name="roots"/> (RootFilter AttrFilter)
    /// walks for a range filtered by <paramref name="filter"/>: the filter's root types, with
    /// KVM_INVALID_ROOTS when the policy includes them (an unmap does, aging does not).
    /// </summary>
    public static KvmTdpMmuRootTypes ForAttrFilter(RootPolicy roots, bool mirroredVm, KvmGfnRangeFilter filter)
    {
        if (roots.Filter != RootFilter.AttrFilter)
        {
            throw new ArgumentException($"the roots of a RootFilter {roots.Filter} operation do not come from an attr_filter", nameof(roots));
        }

        return FilterToRootTypes(mirroredVm, filter) | (roots.IncludesInvalidRoots ? KvmTdpMmuRootTypes.Invalid : KvmTdpMmuRootTypes.None);
    }

    /// <summary>
    /// kvm_tdp_mmu_age_gfn_range() (policy AgeGfnRange): the roots aging walks for a range the
    /// HVA notifier filtered with <paramref name="filter"/>.
    /// </summary>
    public static KvmTdpMmuRootTypes AgeRootTypes(MmuRules rules, bool mirroredVm, KvmGfnRangeFilter filter) =>
        ForAttrFilter(rules.AgeGfnRange.Roots ?? throw new InvalidOperationException($"model '{rules.Model}': AgeGfnRange declares no RootFilter"), mirroredVm, filter);

    /// <summary>Root types as a short list in the kernel's order, for tables: "DIRECT, MIRROR, INVALID".</summary>
    public static string Format(KvmTdpMmuRootTypes types) => types == KvmTdpMmuRootTypes.None ? "none" : string.Join(", ", Names(types, ""));

    /// <summary>Root types spelled as the kernel's constants: "KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS".</summary>
    public static string KernelName(KvmTdpMmuRootTypes types) => types == KvmTdpMmuRootTypes.None ? "0" : string.Join(" | ", Names(types, "KVM_", "_ROOTS"));

    private static IEnumerable<string> Names(KvmTdpMmuRootTypes types, string prefix, string suffix = "")
    {
        if ((types & KvmTdpMmuRootTypes.Direct) != 0)
        {
            yield return prefix + "DIRECT" + suffix;
        }

        if ((types & KvmTdpMmuRootTypes.Mirror) != 0)
        {
            yield return prefix + "MIRROR" + suffix;
        }

        if ((types & KvmTdpMmuRootTypes.Invalid) != 0)
        {
            yield return prefix + "INVALID" + suffix;
        }
    }
}
