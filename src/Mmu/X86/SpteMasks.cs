namespace SpecKit.Mmu.X86;

/// <summary>
/// One SPTE format: spte.c's shadow_*_mask globals as spec/layouts/spte-masks.layout declares
/// them (the generator builds one per format per model, SpteFormats.Ept and .Legacy), and the
/// spte.h/spte.c helpers that read them. A VM is made with one format (EPT with EPT, Legacy for
/// NPT and shadow paging) and reads every format-dependent SPTE bit through it, so a variant
/// that moves a bit in a layout moves it in every SPTE the model builds and checks. The bits
/// spte.h defines once for every format (SPTE_MMU_PRESENT_MASK, PT_WRITABLE_MASK,
/// PT_PAGE_SIZE_MASK, SPTE_BASE_ADDR_MASK, the A/D type) are constants, as in the kernel.
/// </summary>
public sealed class SpteMasks
{
#pragma warning disable IDE1006 // the parameters are spte.c's globals, named as the kernel names them
    public SpteMasks(
        SpteFormat format,
        ulong shadow_present_mask,
        ulong shadow_user_mask,
        ulong shadow_accessed_mask,
        ulong shadow_dirty_mask,
        ulong shadow_nx_mask,
        ulong shadow_x_mask,
        ulong shadow_acc_track_mask,
        ulong shadow_host_writable_mask,
        ulong shadow_mmu_writable_mask,
        ulong shadow_mmio_value,
        ulong shadow_mmio_mask,
        ulong shadow_mmio_access_mask,
        ulong shadow_nonpresent_or_rsvd_lower_gfn_mask,
        ulong mt_mask,
        ulong shadow_nonpresent_value,
        ulong frozen_spte)
#pragma warning restore IDE1006
    {
        Format = format;
        PresentMask = shadow_present_mask;
        UserMask = shadow_user_mask;
        AccessedMask = shadow_accessed_mask;
        DirtyMask = shadow_dirty_mask;
        NxMask = shadow_nx_mask;
        XMask = shadow_x_mask;
        AccTrackMask = shadow_acc_track_mask;
        HostWritableMask = shadow_host_writable_mask;
        MmuWritableMask = shadow_mmu_writable_mask;
        MmioValue = shadow_mmio_value;
        MmioMask = shadow_mmio_mask;
        MmioAccessMask = shadow_mmio_access_mask;
        MmioGfnMask = shadow_nonpresent_or_rsvd_lower_gfn_mask;
        MtMask = mt_mask;
        NonPresentValue = shadow_nonpresent_value;
        FrozenSpte = frozen_spte;
    }

    public const ulong MmuPresent = SpteValues.SPTE_MMU_PRESENT_MASK;
    public const ulong Writable = SpteValues.PT_WRITABLE_MASK;
    public const ulong PageSize = SpteValues.PT_PAGE_SIZE_MASK;
    public const ulong BaseAddr = SpteValues.SPTE_BASE_ADDR_MASK;
    private const ulong AdMask = SpteValues.SPTE_TDP_AD_MASK;
    private const ulong SavedBits = SpteValues.SHADOW_ACC_TRACK_SAVED_BITS_MASK;
    private const ulong SavedMask = SpteValues.SHADOW_ACC_TRACK_SAVED_MASK;

    // spte.h SHADOW_ACC_TRACK_SAVED_BITS_SHIFT: where the saved R and X sit.
    private static readonly int SavedShift = System.Numerics.BitOperations.TrailingZeroCount(SavedMask) - System.Numerics.BitOperations.TrailingZeroCount(SavedBits);

    public SpteFormat Format { get; }

    public ulong PresentMask { get; }

    public ulong UserMask { get; }

    public ulong AccessedMask { get; }

    public ulong DirtyMask { get; }

    public ulong NxMask { get; }

    public ulong XMask { get; }

    public ulong AccTrackMask { get; }

    public ulong HostWritableMask { get; }

    public ulong MmuWritableMask { get; }

    public ulong MmioValue { get; }

    public ulong MmioMask { get; }

    public ulong MmioAccessMask { get; }

    /// <summary>shadow_nonpresent_or_rsvd_lower_gfn_mask: where an MMIO SPTE keeps its GPA.</summary>
    public ulong MmioGfnMask { get; }

    /// <summary>What get_mt_mask() adds to a leaf for RAM.</summary>
    public ulong MtMask { get; }

    /// <summary>SHADOW_NONPRESENT_VALUE of this model: what a zapped or never-used SPTE holds.</summary>
    public ulong NonPresentValue { get; }

    /// <summary>FROZEN_SPTE of this model.</summary>
    public ulong FrozenSpte { get; }

    /// <summary>The bits the hardware needs for a read: EPT's R; P and U for NPT (its accesses are user accesses).</summary>
    public ulong ReadMask => (PresentMask | UserMask) & ~NonPresentValue;

    /// <summary>is_shadow_present_pte().</summary>
    public static bool IsShadowPresent(ulong spte) => (spte & MmuPresent) != 0;

    /// <summary>is_last_spte(): a 4K SPTE, or PS above.</summary>
    public static bool IsLast(ulong spte, int level) => level == 1 || (spte & PageSize) != 0;

    /// <summary>spte_to_pfn().</summary>
    public static ulong ToPfn(ulong spte) => (spte & BaseAddr) >> 12;

    /// <summary>is_writable_pte().</summary>
    public static bool IsWritable(ulong spte) => (spte & Writable) != 0;

    /// <summary>is_mmu_writable_spte().</summary>
    public bool IsMmuWritable(ulong spte) => (spte & MmuWritableMask) != 0;

    public bool IsHostWritable(ulong spte) => (spte & HostWritableMask) != 0;

    /// <summary>spte_ad_enabled(): the A/D type is not SPTE_TDP_AD_DISABLED.</summary>
    public static bool AdEnabled(ulong spte) => (spte & AdMask) != SpteValues.SPTE_TDP_AD_DISABLED;

    /// <summary>
    /// spte_needs_atomic_update() (spte.c): bits of the SPTE may change outside mmu_lock, so a write
    /// under the write lock must exchange it (kvm_tdp_mmu_write_spte uses xchg): the fast page fault
    /// may set W on an MMU-writable !W SPTE, aging or the fast path may change an A/D-disabled one,
    /// and the CPU may set D on a W !D one. A is left out: KVM tolerates losing it.
    /// </summary>
    public bool SpteNeedsAtomicUpdate(ulong spte) =>
        (!IsWritable(spte) && IsMmuWritable(spte)) || !AdEnabled(spte) || (IsWritable(spte) && (spte & DirtyMask) == 0);

    /// <summary>is_access_track_spte(): an A/D-disabled SPTE whose acc_track bits are all clear.</summary>
    public bool IsAccessTrack(ulong spte) => !AdEnabled(spte) && (spte & AccTrackMask) == 0;

    /// <summary>is_accessed_spte(): shadow_accessed_mask, which v6.13 sets in A/D-disabled SPTEs too.</summary>
    public bool IsAccessed(ulong spte) => (spte & AccessedMask) != 0;

    /// <summary>is_executable_pte(): X set where the format has X, NX clear where it has NX.</summary>
    public bool IsExecutable(ulong spte) => (spte & (XMask | NxMask)) == XMask;

    /// <summary>Whether the CPU completes <paramref name="access"/> through this leaf without a fault (EPT violation or NPT #NPF).</summary>
    public bool Allows(ulong spte, Kvm.AccessKind access) => access switch
    {
        Kvm.AccessKind.Write => (spte & ReadMask) == ReadMask && IsWritable(spte),
        Kvm.AccessKind.Fetch => (spte & ReadMask) == ReadMask && IsExecutable(spte),
        _ => (spte & ReadMask) == ReadMask,
    };

    /// <summary>
    /// mark_spte_for_access_track(): clear A; for an A/D-disabled SPTE also save R and X in the
    /// high bits and clear the acc_track bits (RWX), so the next access faults. W is not saved:
    /// MMU-writable says whether the fast page fault may restore it.
    /// </summary>
    public ulong MarkForAccessTrack(ulong spte)
    {
        if (AdEnabled(spte))
        {
            return spte & ~AccessedMask;
        }

        if (IsAccessTrack(spte))
        {
            return spte;
        }

        KvmWarn.On((spte & SavedMask) != 0, $"mark_spte_for_access_track: saved bits already set in 0x{spte:x16}");
        spte |= (spte & SavedBits) << SavedShift;
        return spte & ~(AccTrackMask | AccessedMask);
    }

    /// <summary>restore_acc_track_spte(): R and X back from the saved bits (A stays clear).</summary>
    public ulong RestoreAccessTrack(ulong spte)
    {
        var saved = (spte >> SavedShift) & SavedBits;
        return (spte & ~AccTrackMask & ~SavedMask) | saved;
    }

    /// <summary>
    /// make_nonleaf_spte(): the child table with every right (the leaf decides), and A, or the
    /// A/D-disabled type where the MMU has no A/D bits.
    /// </summary>
    public ulong MakeNonLeaf(ulong childPfn, bool adDisabled) =>
        MmuPresent | (childPfn << 12) | PresentMask | Writable | UserMask | XMask
        | (adDisabled ? SpteValues.SPTE_TDP_AD_DISABLED : AccessedMask);

    /// <summary>
    /// modify_spte_protections() for the X right: made or taken away around an access-tracked
    /// SPTE's saved bits (make_spte_executable / make_spte_nonexecutable).
    /// </summary>
    private ulong ChangeExecutable(ulong spte, bool executable)
    {
        var accessTrack = IsAccessTrack(spte);
        if (accessTrack)
        {
            spte = RestoreAccessTrack(spte);
        }

        spte = executable ? (spte | XMask) & ~NxMask : (spte | NxMask) & ~XMask;
        return accessTrack ? MarkForAccessTrack(spte) : spte;
    }

    /// <summary>
    /// make_small_spte(): the child of a split huge SPTE at <paramref name="index"/>: the huge
    /// SPTE with the sub-page's address; a 4K child whose role allows execution is executable
    /// again, as the NX huge page mitigation no longer applies to it.
    /// </summary>
    public ulong MakeSmall(ulong huge, int childLevel, int index, bool roleExecutable, bool nxHugePages)
    {
        var child = huge | ((ulong)index << (12 + (9 * (childLevel - 1))));
        if (childLevel == 1)
        {
            child &= ~PageSize;
            if (roleExecutable && nxHugePages)
            {
                child = ChangeExecutable(child, executable: true);
            }
        }

        return child;
    }

    /// <summary>
    /// make_huge_spte(): PS set and the address rounded down to the huge page, made
    /// non-executable while the NX huge page mitigation is on.
    /// </summary>
    public ulong MakeHuge(ulong small, int level, bool nxHugePages)
    {
        var pageMask = ~((1UL << (12 + (9 * (level - 1)))) - 1);
        var huge = (small | PageSize) & (pageMask | 0xfff | ~BaseAddr);
        return nxHugePages ? ChangeExecutable(huge, executable: false) : huge;
    }

    /// <summary>
    /// make_mmio_spte(): the format's MMIO value, the access bits it keeps, the GPA, and the low
    /// 19 bits of the memslot generation split over bits 10:3 and 62:52.
    /// </summary>
    public ulong MakeMmio(ulong gfn, uint access, ulong generation)
    {
        generation &= SpteValues.MMIO_SPTE_GEN_MASK;
        var gen = ((generation << 3) & SpteValues.MMIO_SPTE_GEN_LOW_MASK) | ((generation << (52 - 8)) & SpteValues.MMIO_SPTE_GEN_HIGH_MASK);
        return gen | MmioValue | (access & MmioAccessMask) | (gfn << 12);
    }

    /// <summary>is_mmio_spte(): the MMIO mask holds the MMIO value.</summary>
    public bool IsMmio(ulong spte) => MmioValue != 0 && (spte & MmioMask) == MmioValue;

    /// <summary>get_mmio_spte_gfn().</summary>
    public ulong MmioGfn(ulong spte) => (spte & MmioGfnMask) >> 12;

    /// <summary>get_mmio_spte_access().</summary>
    public uint MmioAccess(ulong spte) => (uint)(spte & MmioAccessMask);

    /// <summary>get_mmio_spte_generation().</summary>
    public static ulong MmioGeneration(ulong spte) =>
        ((spte & SpteValues.MMIO_SPTE_GEN_LOW_MASK) >> 3) | ((spte & SpteValues.MMIO_SPTE_GEN_HIGH_MASK) >> (52 - 8));

    /// <summary>
    /// check_spte_writable_invariants(): only (HostW, MmuW, W) = 111, 110, 100 and 000 are legal
    /// leaf states; anything else is the kernel's WARN_ONCE.
    /// </summary>
    public void CheckWritableInvariants(ulong spte, ulong gfn, string operation)
    {
        if (IsMmuWritable(spte))
        {
            KvmWarn.On(!IsHostWritable(spte), $"{operation}: gfn 0x{gfn:x} is MMU-writable but not host-writable (0x{spte:x16})");
        }
        else
        {
            KvmWarn.On(IsWritable(spte), $"{operation}: gfn 0x{gfn:x} is writable but not MMU-writable (0x{spte:x16})");
        }
    }

    /// <summary>leaf_spte_change_needs_tlb_flush(): only when MMU-writable goes 1 -> 0.</summary>
    public bool LeafChangeNeedsFlush(ulong oldSpte, ulong newSpte) => IsMmuWritable(oldSpte) && !IsMmuWritable(newSpte);

    /// <summary>
    /// A leaf's rights and KVM's bits as SPTE trees show them: W M(MU-writable) H(ost-writable)
    /// A D X, and whether it is access-tracked. U is shown for the Legacy format, whose U bit
    /// carries the guest's user/supervisor right under shadow paging.
    /// </summary>
    public string Describe(ulong spte)
    {
        var flags = $"{(IsWritable(spte) ? "W" : "-")}{(IsMmuWritable(spte) ? "M" : "-")}{(IsHostWritable(spte) ? "H" : "-")}{(IsAccessed(spte) ? "A" : "-")}{((spte & DirtyMask) != 0 ? "D" : "-")}{(IsExecutable(spte) ? "X" : "-")}";
        return IsAccessTrack(spte) ? flags + " access-tracked" : flags;
    }

    public override string ToString() => Format.ToString();
}
