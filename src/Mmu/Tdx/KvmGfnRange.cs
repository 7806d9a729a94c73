namespace SpecKit.Mmu.Tdx;

/// <summary>The callers of kvm_unmap_gfn_range() whose range decides which TDP MMU roots are zapped.</summary>
public enum UnmapCaller
{
    /// <summary>The HVA-based mmu_notifier (kvm_mmu_notifier_invalidate_range_start): munmap, migration, swap-out.</summary>
    HvaNotifier,

    /// <summary>guest_memfd invalidation (kvm_gmem_invalidate_begin): punching a hole, truncating, releasing the file.</summary>
    GuestMemfdInvalidate,

    /// <summary>KVM_SET_MEMORY_ATTRIBUTES (kvm_vm_set_mem_attributes, kvm_arch_pre_set_memory_attributes): a private/shared conversion.</summary>
    SetMemoryAttributes,

    /// <summary>
    /// Deleting or moving a memslot (kvm_invalidate_memslot, kvm_arch_flush_shadow_memslot). A
    /// flags-only change never gets here: kvm_set_memslot invalidates only on KVM_MR_DELETE and
    /// KVM_MR_MOVE.
    /// </summary>
    MemslotZap,
}

/// <summary>The attribute a KVM_SET_MEMORY_ATTRIBUTES call sets: KVM_MEMORY_ATTRIBUTE_PRIVATE, or none (shared).</summary>
public enum MemoryAttribute
{
    Shared,
    Private,
}

/// <summary>
/// struct kvm_gfn_range as the three designs carry it. Each design's callers fill only their
/// revision's fields, and each design's kvm_tdp_mmu_unmap_gfn_range() reads only those:
/// v19 only_private/only_shared (+ arg.attributes), seed 003 exclude_private/exclude_shared,
/// v6.14 attr_filter.
/// </summary>
public sealed record KvmGfnRange(UnmapCaller Caller)
{
    /// <summary>KVM_MEMORY_ATTRIBUTE_PRIVATE (uapi kvm.h): BIT(3).</summary>
    public const ulong KvmMemoryAttributePrivate = 1UL << 3;

    /// <summary>range->arg.attributes: the attributes being set, for a KVM_SET_MEMORY_ATTRIBUTES range.</summary>
    public ulong Attributes { get; init; }

    /// <summary>v19 range->only_private.</summary>
    public bool OnlyPrivate { get; init; }

    /// <summary>v19 range->only_shared.</summary>
    public bool OnlyShared { get; init; }

    /// <summary>Seed 003 range->exclude_private.</summary>
    public bool ExcludePrivate { get; init; }

    /// <summary>Seed 003 range->exclude_shared.</summary>
    public bool ExcludeShared { get; init; }

    /// <summary>v6.14 range->attr_filter.</summary>
    public KvmGfnRangeFilter AttrFilter { get; init; }

    /// <summary>The attributes as the kernel spells them.</summary>
    public string AttributesName => Attributes == KvmMemoryAttributePrivate ? "KVM_MEMORY_ATTRIBUTE_PRIVATE" : $"0x{Attributes:x}";

    /// <summary>The filter as the kernel spells it.</summary>
    public string AttrFilterName => AttrFilter switch
    {
        KvmGfnRangeFilter.None => "0",
        KvmGfnRangeFilter.Shared => "KVM_FILTER_SHARED",
        KvmGfnRangeFilter.Private => "KVM_FILTER_PRIVATE",
        _ => "KVM_FILTER_PRIVATE | KVM_FILTER_SHARED",
    };
}

/// <summary>What a caller puts in struct kvm_gfn_range under one design, and where that comes from.</summary>
/// <param name="Range">The range, or null when the caller never reaches kvm_tdp_mmu_unmap_gfn_range().</param>
/// <param name="Source">The kernel code or patch it comes from; "[inferred: ...]" where the sources do not say.</param>
public sealed record CallerRange(KvmGfnRange? Range, string Source);

/// <summary>Names for the callers and attributes, as tables and feature files write them.</summary>
public static class UnmapCallers
{
    public static readonly IReadOnlyList<UnmapCaller> All = Enum.GetValues<UnmapCaller>();

    public static string Describe(UnmapCaller caller) => caller switch
    {
        UnmapCaller.HvaNotifier => "HVA mmu_notifier",
        UnmapCaller.GuestMemfdInvalidate => "guest_memfd invalidation",
        UnmapCaller.SetMemoryAttributes => "memory-attribute change",
        UnmapCaller.MemslotZap => "memslot delete/move",
        _ => throw new ArgumentOutOfRangeException(nameof(caller)),
    };

    public static UnmapCaller Parse(string text)
    {
        foreach (var caller in All)
        {
            if (Describe(caller) == text)
            {
                return caller;
            }
        }

        throw new ArgumentException($"no caller '{text}'; the callers are {string.Join(", ", All.Select(c => Describe(c)))}", nameof(text));
    }

    /// <summary>"private", "shared", or "none" for a caller that carries no attribute.</summary>
    public static string Describe(MemoryAttribute? attribute) => attribute switch
    {
        MemoryAttribute.Private => "private",
        MemoryAttribute.Shared => "shared",
        _ => "none",
    };

    /// <summary>The VM kinds the comparison runs: a TDX VM (shared mask, mirror roots) and one without a shared mask.</summary>
    public static string DescribeVm(bool mirroredVm) => mirroredVm ? "TDX" : "SW_PROTECTED";

    /// <summary>
    /// Every unmap the seed's logic distinguishes: each VM kind, each caller, and for a
    /// memory-attribute change each attribute it can set. The VM without a shared mask is a
    /// KVM_X86_SW_PROTECTED_VM: it has private memory (guest_memfd, memory attributes) but no
    /// shared mask and no mirror roots, so every caller reaches it.
    /// </summary>
    public static IEnumerable<(bool MirroredVm, UnmapCaller Caller, MemoryAttribute? Attribute)> EveryRequest()
    {
        foreach (var mirrored in new[] { true, false })
        {
            foreach (var caller in All)
            {
                if (caller == UnmapCaller.SetMemoryAttributes)
                {
                    yield return (mirrored, caller, MemoryAttribute.Private);
                    yield return (mirrored, caller, MemoryAttribute.Shared);
                }
                else
                {
                    yield return (mirrored, caller, null);
                }
            }
        }
    }
}
