namespace SpecKit.Mmu.PageTables;

/// <summary>
/// Host memory for paging structures. Each table is one 4 KiB page of 512 entries, named by
/// the host PFN a non-leaf SPTE points to, so walks follow SPTE bits the way the CPU does
/// (spte_to_child_pt()). Tables are plain ulong arrays: the entries are the only per-page
/// cost, as in the kernel, which the memory benchmark holds the model to.
/// </summary>
public sealed class PageTableStore
{
    public const int EntriesPerTable = 512;

    /// <summary>Table PFNs start here, well away from guest frames, so a mixed-up PFN shows.</summary>
    public const ulong DefaultBasePfn = 0x10_0000_0000 >> 12;

    private readonly Stack<int> _free = new();
    private ulong[]?[] _tables = new ulong[]?[64];
    private int _used;

    public PageTableStore(ulong basePfn = DefaultBasePfn) => BasePfn = basePfn;

    public ulong BasePfn { get; }

    /// <summary>How many tables are allocated and not yet freed.</summary>
    public int LiveTables { get; private set; }

    /// <summary>Allocates a table with every entry set to <paramref name="fill"/> (SHADOW_NONPRESENT_VALUE for a new SP).</summary>
    public ulong Alloc(ulong fill)
    {
        var slot = _free.Count > 0 ? _free.Pop() : _used++;
        if (slot == _tables.Length)
        {
            Array.Resize(ref _tables, _tables.Length * 2);
        }

        var table = new ulong[EntriesPerTable];
        if (fill != 0)
        {
            Array.Fill(table, fill);
        }

        _tables[slot] = table;
        LiveTables++;
        return BasePfn + (ulong)slot;
    }

    /// <summary>Frees a table; freeing one twice, or one that never was, is a KVM bug.</summary>
    public void Free(ulong pfn)
    {
        KvmWarn.On(!Contains(pfn), $"freeing page table 0x{pfn:x} that is not allocated");
        var slot = (int)(pfn - BasePfn);
        _tables[slot] = null;
        _free.Push(slot);
        LiveTables--;
    }

    public bool Contains(ulong pfn) => pfn >= BasePfn && pfn - BasePfn < (ulong)_used && _tables[pfn - BasePfn] is not null;

    /// <summary>The entries of the table at host PFN <paramref name="pfn"/>; a freed or unknown PFN is a use-after-free.</summary>
    /// <remarks>
    /// Every step down a walk asks, so the lookup is small enough to inline: the warning is built
    /// out of line. Slots at or past the high-water mark were never set, so they are null too.
    /// </remarks>
    public ulong[] this[ulong pfn]
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        get
        {
            var offset = pfn - BasePfn;
            var tables = _tables;
            if (offset < (ulong)tables.Length && tables[offset] is { } table)
            {
                return table;
            }

            return NotAllocated(pfn);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static ulong[] NotAllocated(ulong pfn) => throw new KvmWarnException($"page table 0x{pfn:x} is not allocated (use after free?)");
}
