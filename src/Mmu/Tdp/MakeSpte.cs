namespace SpecKit.Mmu.Tdp;

/// <summary>
/// spte.c make_spte() for EPT, the model's SPTE format. The rules that matter to the seeds: a
/// new writable leaf is W + MMU-writable + Dirty; it is Accessed unless prefetched; it is
/// Host-writable only when the host PTE is; huge leaves carry PS, and lose X while the NX huge
/// page mitigation (nx_huge_pages) is on. With EPT A/D bits off (the eptad module parameter)
/// SPTEs say SPTE_TDP_AD_DISABLED and carry neither A nor D: accesses are tracked by taking R, W
/// and X away (mark_spte_for_access_track) and dirty pages by write protection.
/// </summary>
public static class MakeSpte
{
    private static readonly EptSpte Base = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithExecutable(true).WithMemType(EptSpteMemType.Wb);

    public static ulong Leaf(ulong pfn, int level, bool writable, bool hostWritable, bool prefetch, bool nxHugePages, bool adEnabled = true)
    {
        var spte = Base.WithPfn(pfn).WithPageSize(level > 1);
        if (!adEnabled)
        {
            spte = spte.WithAdType(EptSpteAdType.Disabled);
        }

        // make_spte(): "level > PG_LEVEL_4K && (pte_access & ACC_EXEC_MASK) && is_nx_huge_page_enabled()"
        // drops ACC_EXEC_MASK, so a fetch from a huge page faults and is mapped at 4K instead.
        if (level > 1 && nxHugePages)
        {
            spte = spte.WithExecutable(false);
        }

        if (hostWritable)
        {
            spte = spte.WithHostWritable(true);
        }

        // spte_shadow_accessed_mask() / spte_shadow_dirty_mask() are 0 for an A/D-disabled SPTE.
        if (!prefetch && adEnabled)
        {
            spte = spte.WithAccessed(true);
        }

        if (writable && hostWritable)
        {
            spte = spte.WithWritable(true).WithMmuWritable(true).WithDirty(adEnabled);
        }

        return prefetch && !adEnabled ? MarkForAccessTrack(spte.Raw) : spte.Raw;
    }

    /// <summary>make_nonleaf_spte(): non-leaf SPTEs grant everything; the leaf decides.</summary>
    public static ulong NonLeaf(ulong childTablePfn, bool adEnabled = true)
    {
        var spte = Base.WithWritable(true).WithPfn(childTablePfn);
        return (adEnabled ? spte.WithAccessed(true) : spte.WithAdType(EptSpteAdType.Disabled)).Raw;
    }

    public static bool IsAdEnabled(ulong spte) => new EptSpte(spte).AdType != EptSpteAdType.Disabled;

    /// <summary>is_access_track_spte(): an A/D-disabled SPTE whose R, W and X were taken away to catch the next access.</summary>
    public static bool IsAccessTrack(ulong spte) => !IsAdEnabled(spte) && (spte & AccessTrackMask) == 0;

    /// <summary>is_accessed_spte(): A, or for an A/D-disabled SPTE, not access-tracked.</summary>
    public static bool IsAccessed(ulong spte) => IsAdEnabled(spte) ? (spte & EptSpte.AccessedMask) != 0 : !IsAccessTrack(spte);

    // shadow_acc_track_mask for EPT: R | W | X (spte.c kvm_mmu_set_ept_masks).
    private const ulong AccessTrackMask = EptSpte.ReadableMask | EptSpte.WritableMask | EptSpte.ExecutableMask;

    /// <summary>
    /// mark_spte_for_access_track(): save R and X in bits 54 and 56, then clear R, W and X. W is not
    /// saved: MMU-writable tells the fast page fault whether it may come back.
    /// </summary>
    public static ulong MarkForAccessTrack(ulong spte)
    {
        if (IsAdEnabled(spte))
        {
            return spte & ~EptSpte.AccessedMask;
        }

        if (IsAccessTrack(spte))
        {
            return spte;
        }

        var e = new EptSpte(spte);
        return e.WithSavedReadable(e.Readable).WithSavedExecutable(e.Executable).Raw & ~AccessTrackMask;
    }

    /// <summary>restore_acc_track_spte(): R and X back from their saved bits.</summary>
    public static ulong RestoreAccessTrack(ulong spte)
    {
        var e = new EptSpte(spte);
        return e.WithReadable(e.SavedReadable).WithExecutable(e.SavedExecutable).WithSavedReadable(false).WithSavedExecutable(false).Raw;
    }

    /// <summary>
    /// make_small_spte(): the child of a split huge SPTE at <paramref name="index"/>. A 4K child is
    /// executable again: the TDP MMU's pages allow ACC_EXEC_MASK and the NX huge page mitigation
    /// no longer applies to it.
    /// </summary>
    public static ulong Small(ulong huge, int childLevel, int index)
    {
        var spte = new EptSpte(huge);
        var pfn = spte.Pfn + ((ulong)index * TdpWalker.PagesPerHpage(childLevel));
        spte = spte.WithPfn(pfn).WithPageSize(childLevel > 1);
        return (childLevel == 1 ? spte.WithExecutable(true) : spte).Raw;
    }

    /// <summary>
    /// make_huge_spte(): the first child leaf with PS set and the address rounded down to the huge
    /// page, made non-executable while the NX huge page mitigation is on.
    /// </summary>
    public static ulong Huge(ulong firstChild, int level, bool nxHugePages)
    {
        var spte = new EptSpte(firstChild);
        var pfn = spte.Pfn & ~(TdpWalker.PagesPerHpage(level) - 1);
        spte = spte.WithPfn(pfn).WithPageSize(true);
        return (nxHugePages ? spte.WithExecutable(false) : spte).Raw;
    }

    /// <summary>spte.h is_writable_pte().</summary>
    public static bool IsWritable(ulong spte) => (spte & EptSpte.WritableMask) != 0;

    public static bool IsMmuWritable(ulong spte) => (spte & EptSpte.MmuWritableMask) != 0;

    /// <summary>is_executable_pte(): EPT's X bit.</summary>
    public static bool IsExecutable(ulong spte) => (spte & EptSpte.ExecutableMask) != 0;

    /// <summary>Whether the CPU may complete <paramref name="access"/> through this leaf without an EPT violation.</summary>
    public static bool Allows(ulong spte, Kvm.AccessKind access) => access switch
    {
        Kvm.AccessKind.Write => IsWritable(spte),
        Kvm.AccessKind.Fetch => IsExecutable(spte),
        _ => (spte & EptSpte.ReadableMask) != 0,
    };

    /// <summary>A leaf's permission and software bits as the SPTE tree shows them: W M H A D X, and whether it is access-tracked.</summary>
    public static string Describe(ulong spte)
    {
        var e = new EptSpte(spte);
        var flags = $"{(e.Writable ? "W" : "-")}{(e.MmuWritable ? "M" : "-")}{(e.HostWritable ? "H" : "-")}{(e.Accessed ? "A" : "-")}{(e.Dirty ? "D" : "-")}{(e.Executable ? "X" : "-")}";
        return IsAccessTrack(spte) ? flags + " access-tracked" : flags;
    }

    /// <summary>spte.h leaf_spte_change_needs_tlb_flush(): only when MMU-writable goes 1 -> 0.</summary>
    public static bool LeafChangeNeedsFlush(ulong oldSpte, ulong newSpte) => IsMmuWritable(oldSpte) && !IsMmuWritable(newSpte);
}
