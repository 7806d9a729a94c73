namespace SpecKit.Mmu.Host;

/// <summary>One host page table entry backing a guest frame: which host page, and whether it is writable.</summary>
public readonly record struct HostPte(ulong Pfn, bool Writable);

/// <summary>
/// The primary MMU: the host page tables behind every memslot. Host PTE changes (migration,
/// swap-out, a KSM merge, mprotect, munmap, copy-on-write) are what MMU notifiers tell KVM about.
/// The notifier calls themselves are made by <see cref="Kvm.Kvm"/>, which owns this.
/// </summary>
public sealed class HostMm
{
    private readonly Dictionary<ulong, HostPte> _ptes = [];
    private readonly Dictionary<ulong, int> _mappingLevel = [];
    private ulong _nextPfn = 0x100000;

    /// <summary>The host PTE for <paramref name="gfn"/>'s host address, or null when nothing is mapped there.</summary>
    public HostPte? Lookup(ulong gfn) => _ptes.TryGetValue(gfn, out var pte) ? pte : null;

    /// <summary>GFNs whose host range was munmapped: no VMA, so a host fault cannot repopulate them.</summary>
    public HashSet<ulong> Unmapped { get; } = [];

    /// <summary>Pages copied on write, e.g. after a KSM merge: a write fault must break the sharing first.</summary>
    public HashSet<ulong> CopyOnWrite { get; } = [];

    // Page contents, 512 words a page, kept only for pages ever written (an unwritten page reads
    // as zeros), and what swap-out saved, by GFN, until the page is faulted back in.
    private readonly Dictionary<ulong, ulong[]> _contents = [];
    private readonly Dictionary<ulong, ulong[]> _swapped = [];

    /// <summary>
    /// A host page fault: populate the host PTE with a fresh page (no notifier: nothing was
    /// mapped), with the contents swap-out saved, if any.
    /// </summary>
    public HostPte FaultIn(ulong gfn)
    {
        if (Lookup(gfn) is { } pte)
        {
            return pte;
        }

        var fresh = new HostPte(_nextPfn++, Writable: true);
        _ptes[gfn] = fresh;
        if (_swapped.Remove(gfn, out var saved))
        {
            _contents[fresh.Pfn] = saved;
        }

        return fresh;
    }

    /// <summary>The 64-bit word at <paramref name="index"/> (0..511) of host page <paramref name="pfn"/>.</summary>
    public ulong Read(ulong pfn, int index) => _contents.TryGetValue(pfn, out var page) ? page[index] : 0;

    public void Write(ulong pfn, int index, ulong value)
    {
        if (!_contents.TryGetValue(pfn, out var page))
        {
            _contents[pfn] = page = new ulong[512];
        }

        page[index] = value;
    }

    /// <summary>A new host page holding a copy of <paramref name="from"/>'s contents: migration, KSM, copy-on-write.</summary>
    public HostPte CopyOf(HostPte from, bool writable)
    {
        var copy = new HostPte(_nextPfn++, writable);
        if (_contents.TryGetValue(from.Pfn, out var page))
        {
            _contents[copy.Pfn] = (ulong[])page.Clone();
        }

        return copy;
    }

    /// <summary>Swap-out: the page's contents go to swap until <see cref="FaultIn"/> brings them back.</summary>
    internal void SwapOut(ulong gfn)
    {
        if (Lookup(gfn) is { } pte && _contents.Remove(pte.Pfn, out var page))
        {
            _swapped[gfn] = page;
        }

        Set(gfn, null);
    }

    /// <summary>Maps <paramref name="count"/> frames from <paramref name="gfn"/> to consecutive host pages, aligned so huge pages are possible.</summary>
    public void Populate(ulong gfn, ulong count, int hostLevel)
    {
        var align = 1UL << (9 * (hostLevel - 1));
        _nextPfn = (_nextPfn + align - 1) & ~(align - 1);
        for (ulong i = 0; i < count; i++)
        {
            _ptes[gfn + i] = new HostPte(_nextPfn++, Writable: true);
            _mappingLevel[gfn + i] = hostLevel;
        }
    }

    /// <summary>The host mapping level (THP: 2M or 1G) of <paramref name="gfn"/>'s page: host_pfn_mapping_level().</summary>
    public int MappingLevel(ulong gfn) => _mappingLevel.TryGetValue(gfn, out var level) ? level : 1;

    internal void Set(ulong gfn, HostPte? pte)
    {
        _mappingLevel.Remove(gfn);
        if (pte is { } p)
        {
            _ptes[gfn] = p;
        }
        else
        {
            _ptes.Remove(gfn);
        }
    }
}
