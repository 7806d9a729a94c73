namespace SpecKit.Mmu.Guest;

/// <summary>
/// Guest-physical memory that holds only the pages something wrote: each 4 KiB page is an
/// array of 512 PTE-sized words, found by GFN. Pages can be marked read-only (a ROM memslot),
/// so the walker's A/D writes are skipped there as the kernel skips them.
/// </summary>
public sealed class SparseGuestMemory : IGuestPhysicalMemory
{
    private const int WordsPerPage = GuestWalker.EntriesPerTable;
    private const ulong PageOffsetMask = (1UL << GuestWalker.PageShift) - 1;

    private readonly Dictionary<ulong, ulong[]> _pages = [];
    private readonly HashSet<ulong> _readOnly = [];

    /// <summary>The GFNs that have memory, in order.</summary>
    public IEnumerable<ulong> Gfns => _pages.Keys.Order();

    /// <summary>How many compare-exchanges wrote a PTE (the walker's A/D updates).</summary>
    public int PteWrites { get; private set; }

    public bool HasPage(ulong gfn) => _pages.ContainsKey(gfn);

    /// <summary>The page at <paramref name="gfn"/>, created zeroed on first use.</summary>
    public ulong[] Page(ulong gfn)
    {
        if (!_pages.TryGetValue(gfn, out var page))
        {
            page = new ulong[WordsPerPage];
            _pages[gfn] = page;
        }

        return page;
    }

    /// <summary>Writes a PTE as the guest would (a plain store, not the walker's compare-exchange).</summary>
    public void WritePte(ulong gpa, ulong pte) => Page(gpa >> GuestWalker.PageShift)[Word(gpa)] = pte;

    /// <summary>Reads a PTE that must exist.</summary>
    public ulong ReadPte(ulong gpa) =>
        TryReadPte(gpa, out var pte) ? pte : throw new ArgumentOutOfRangeException(nameof(gpa), $"no guest memory at gpa 0x{gpa:x}");

    /// <summary>Marks a page read-only (a ROM memslot): the walker reads it but does not set A/D in it.</summary>
    public void SetReadOnly(ulong gfn, bool readOnly = true)
    {
        if (readOnly)
        {
            _readOnly.Add(gfn);
        }
        else
        {
            _readOnly.Remove(gfn);
        }
    }

    /// <summary>Drops a page, so reads from it fail as if no memslot backed it.</summary>
    public void Remove(ulong gfn) => _pages.Remove(gfn);

    public bool TryReadPte(ulong gpa, out ulong pte)
    {
        if (_pages.TryGetValue(gpa >> GuestWalker.PageShift, out var page))
        {
            pte = page[Word(gpa)];
            return true;
        }

        pte = 0;
        return false;
    }

    public PteCmpxchgResult CompareExchangePte(ulong gpa, ulong expected, ulong value)
    {
        var gfn = gpa >> GuestWalker.PageShift;
        if (!_pages.TryGetValue(gfn, out var page))
        {
            return PteCmpxchgResult.Fault;
        }

        if (_readOnly.Contains(gfn))
        {
            return PteCmpxchgResult.ReadOnly;
        }

        ref var word = ref page[Word(gpa)];
        if (word != expected)
        {
            return PteCmpxchgResult.ValueChanged;
        }

        word = value;
        PteWrites++;
        return PteCmpxchgResult.Exchanged;
    }

    private static int Word(ulong gpa)
    {
        if ((gpa & 7) != 0)
        {
            throw new ArgumentException($"gpa 0x{gpa:x} is not 8-byte aligned: PTEs are 64-bit", nameof(gpa));
        }

        return (int)((gpa & PageOffsetMask) >> 3);
    }
}
