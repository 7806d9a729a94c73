namespace SpecKit.Mmu.Tdp;

/// <summary>
/// spte.c make_spte() for EPT with A/D bits, the model's SPTE format. The rules that matter to
/// the seeds: a new writable leaf is W + MMU-writable + Dirty; it is Accessed unless prefetched;
/// it is Host-writable only when the host PTE is; huge leaves carry PS.
/// </summary>
public static class MakeSpte
{
    private static readonly EptSpte Base = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithExecutable(true).WithMemType(EptSpteMemType.Wb);

    public static ulong Leaf(ulong pfn, int level, bool writable, bool hostWritable, bool prefetch)
    {
        var spte = Base.WithPfn(pfn).WithPageSize(level > 1);
        if (hostWritable)
        {
            spte = spte.WithHostWritable(true);
        }

        if (!prefetch)
        {
            spte = spte.WithAccessed(true);
        }

        if (writable && hostWritable)
        {
            spte = spte.WithWritable(true).WithMmuWritable(true).WithDirty(true);
        }

        return spte.Raw;
    }

    /// <summary>make_nonleaf_spte(): non-leaf SPTEs grant everything; the leaf decides.</summary>
    public static ulong NonLeaf(ulong childTablePfn) =>
        Base.WithWritable(true).WithAccessed(true).WithPfn(childTablePfn).Raw;

    /// <summary>make_small_spte(): the child of a split huge SPTE at <paramref name="index"/>.</summary>
    public static ulong Small(ulong huge, int childLevel, int index)
    {
        var spte = new EptSpte(huge);
        var pfn = spte.Pfn + ((ulong)index * TdpWalker.PagesPerHpage(childLevel));
        return spte.WithPfn(pfn).WithPageSize(childLevel > 1).Raw;
    }

    /// <summary>make_huge_spte(): the first child leaf with PS set and the address rounded down to the huge page.</summary>
    public static ulong Huge(ulong firstChild, int level)
    {
        var spte = new EptSpte(firstChild);
        var pfn = spte.Pfn & ~(TdpWalker.PagesPerHpage(level) - 1);
        return spte.WithPfn(pfn).WithPageSize(true).Raw;
    }

    /// <summary>spte.h is_writable_pte().</summary>
    public static bool IsWritable(ulong spte) => (spte & EptSpte.WritableMask) != 0;

    public static bool IsMmuWritable(ulong spte) => (spte & EptSpte.MmuWritableMask) != 0;

    /// <summary>spte.h leaf_spte_change_needs_tlb_flush(): only when MMU-writable goes 1 -> 0.</summary>
    public static bool LeafChangeNeedsFlush(ulong oldSpte, ulong newSpte) => IsMmuWritable(oldSpte) && !IsMmuWritable(newSpte);
}
