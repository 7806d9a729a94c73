using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Shadow;

/// <summary>
/// SPTEs in the format shadow paging uses: the x86-64 PTE with KVM's software bits
/// (<see cref="LegacySpte"/>), with the masks spte.c kvm_mmu_reset_all_pte_masks() sets when
/// TDP is off: shadow_user_mask = PT_USER_MASK, shadow_accessed_mask = PT_ACCESSED_MASK,
/// shadow_dirty_mask = PT_DIRTY_MASK, shadow_nx_mask = PT64_NX_MASK, shadow_x_mask = 0,
/// shadow_present_mask = PT_PRESENT_MASK, shadow_acc_track_mask = 0, and the DEFAULT_SPTE_*
/// writable bits. (The TDP MMU's EPT format is <see cref="Tdp.MakeSpte"/>; EPT has no U bit, and
/// CR0.WP=0 emulation needs one.)
/// </summary>
public static class Spte
{
    /// <summary>is_shadow_present_pte(): SPTE_MMU_PRESENT_MASK.</summary>
    public static bool IsShadowPresent(ulong spte) => (spte & LegacySpte.MmuPresentMask) != 0;

    /// <summary>is_last_spte(): a 4K SPTE, or PS above.</summary>
    public static bool IsLast(ulong spte, int level) => level == GuestWalker.PteLevel || (spte & LegacySpte.PageSizeMask) != 0;

    public static bool IsWritable(ulong spte) => (spte & LegacySpte.WritableMask) != 0;

    public static bool IsMmuWritable(ulong spte) => (spte & LegacySpte.MmuWritableMask) != 0;

    public static ulong ToPfn(ulong spte) => new LegacySpte(spte).Pfn;

    /// <summary>The rights a leaf SPTE grants, as ACC_* uwx: W, U and not NX.</summary>
    public static uint Access(ulong spte) =>
        (uint)(spte & (LegacySpte.WritableMask | LegacySpte.UserMask)) | ((spte & LegacySpte.NxMask) != 0 ? 0 : (uint)Acc.ACC_EXEC_MASK);

    /// <summary>
    /// make_nonleaf_spte(): SPTE_MMU_PRESENT_MASK | __pa(child) | shadow_present_mask |
    /// PT_WRITABLE_MASK | shadow_user_mask | shadow_x_mask | shadow_accessed_mask. A non-leaf SPTE
    /// grants everything; the leaf decides (mmu.rst: upper-level access is never checked).
    /// </summary>
    public static ulong MakeNonLeaf(ulong childPfn) =>
        new LegacySpte(0).WithMmuPresent(true).WithPresent(true).WithWritable(true).WithUser(true).WithAccessed(true).WithPfn(childPfn).Raw;

    /// <summary>mark_spte_for_access_track() for an A/D-enabled SPTE: clear Accessed.</summary>
    public static ulong MarkForAccessTrack(ulong spte) => spte & ~LegacySpte.AccessedMask;

    /// <summary>
    /// leaf_spte_change_needs_tlb_flush() as mmu_spte_update() returns it: only when MMU-writable
    /// goes 1 -> 0 ("KVM allows stale Writable TLB entries to exist" otherwise).
    /// </summary>
    public static bool LeafChangeNeedsFlush(ulong oldSpte, ulong newSpte) =>
        IsShadowPresent(oldSpte) && IsMmuWritable(oldSpte) && !IsMmuWritable(newSpte);

    /// <summary>A 4K gPTE as the log shows it: <c>P W U A D NX -> gfn 0x1000</c>, or <c>not present</c>.</summary>
    public static string DescribeGpte(ulong gpte)
    {
        var e = new GuestPte4K(gpte);
        if (!e.Present)
        {
            return "not present";
        }

        var bits = new List<string> { "P" };
        if (e.Writable) bits.Add("W");
        if (e.User) bits.Add("U");
        if (e.Accessed) bits.Add("A");
        if (e.Dirty) bits.Add("D");
        if (e.Nx) bits.Add("NX");
        return $"{string.Join(' ', bits)} -> gfn 0x{e.PageAddr:x}";
    }

    /// <summary>A leaf's rights and bits for snapshots: <c>P W U A D M H NX</c> as set.</summary>
    public static string Describe(ulong spte)
    {
        if (!IsShadowPresent(spte))
        {
            return "not present";
        }

        var e = new LegacySpte(spte);
        var bits = new List<string> { "P" };
        if (e.Writable) bits.Add("W");
        if (e.User) bits.Add("U");
        if (e.Accessed) bits.Add("A");
        if (e.Dirty) bits.Add("D");
        if (e.MmuWritable) bits.Add("MMU-W");
        if (e.HostWritable) bits.Add("HOST-W");
        if (e.Nx) bits.Add("NX");
        return string.Join(' ', bits);
    }
}
