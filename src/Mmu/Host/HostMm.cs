namespace SpecKit.Mmu.Host;

/// <summary>One host page table entry: which host page backs a user page, and whether it is writable.</summary>
public readonly record struct HostPte(ulong Pfn, bool Writable);

/// <summary>A VMA: a range of user pages [Start, End) by page number, with the page size THP gives it.</summary>
public sealed record HostVma(ulong Start, ulong End, int Level)
{
    public bool Contains(ulong hvpn) => hvpn >= Start && hvpn < End;
}

/// <summary>
/// The primary MMU: the address space of the process that runs the VM (its mm), by host virtual
/// page number (hva &gt;&gt; 12). Userspace maps anonymous memory (mmap), and memslots point at it
/// (userspace_addr), so two slots can alias one range and a slot deleted and made again over the
/// same range finds its data. Host PTE changes (migration, swap-out, a KSM merge, mprotect,
/// munmap, copy-on-write) are what MMU notifiers tell KVM about; the notifier calls are made by
/// <see cref="Kvm.Kvm"/>, which owns this. Page contents are kept per host page, so they follow
/// the page through migration, KSM and swap.
/// </summary>
public sealed class HostMm
{
    private const int PageWords = 512;

    private readonly Dictionary<ulong, HostPte> _ptes = [];
    private readonly List<HostVma> _vmas = [];
    private ulong _nextPfn = 0x100000;

    // User address space handed out by Mmap, from 1 TiB up, aligned for the largest huge page.
    private ulong _nextHvpn = 0x1_0000_0000 >> 12 << 8;

    // Page contents, 512 words a page, kept only for pages ever written (an unwritten page reads as
    // zeros), and what swap-out saved, by user page, until the page is faulted back in.
    private readonly Dictionary<ulong, ulong[]> _contents = [];
    private readonly Dictionary<ulong, ulong[]> _swapped = [];

    /// <summary>User pages whose host PTE is a copy-on-write mapping (after a KSM merge): a write breaks the sharing first.</summary>
    public HashSet<ulong> CopyOnWrite { get; } = [];

    public IReadOnlyList<HostVma> Vmas => _vmas;

    /// <summary>
    /// mmap(MAP_ANONYMOUS) of <paramref name="npages"/> pages, aligned so THP can back them with
    /// <paramref name="hostLevel"/> pages (madvise(MADV_HUGEPAGE)); every page is populated
    /// (MAP_POPULATE), so the first guest access finds a host page. Returns the start page.
    /// </summary>
    public ulong Mmap(ulong npages, int hostLevel)
    {
        var align = 1UL << (9 * 2);
        var start = (_nextHvpn + align - 1) & ~(align - 1);
        _nextHvpn = start + npages + align;
        _vmas.Add(new HostVma(start, start + npages, hostLevel));
        var pfnAlign = 1UL << (9 * (hostLevel - 1));
        _nextPfn = (_nextPfn + pfnAlign - 1) & ~(pfnAlign - 1);
        for (ulong i = 0; i < npages; i++)
        {
            _ptes[start + i] = new HostPte(_nextPfn++, Writable: true);
        }

        return start;
    }

    /// <summary>find_vma(): the mapping that holds <paramref name="hvpn"/>, or null (no VMA: hva_to_pfn fails).</summary>
    public HostVma? FindVma(ulong hvpn)
    {
        // On every host fault: a loop, not a LINQ closure.
        foreach (var vma in _vmas)
        {
            if (vma.Contains(hvpn))
            {
                return vma;
            }
        }

        return null;
    }

    /// <summary>The host PTE for user page <paramref name="hvpn"/>, or null when nothing is mapped there.</summary>
    public HostPte? Lookup(ulong hvpn) => _ptes.TryGetValue(hvpn, out var pte) ? pte : null;

    /// <summary>
    /// A host page fault (hva_to_pfn's get_user_pages): populate the PTE with a fresh page, with
    /// the contents swap-out saved, if any. Null where there is no VMA or a PROT_NONE one: KVM_RUN
    /// fails with -EFAULT.
    /// </summary>
    public HostPte? FaultIn(ulong hvpn)
    {
        if (_noAccess.Contains(hvpn))
        {
            return null;
        }

        if (Lookup(hvpn) is { } pte)
        {
            return pte;
        }

        if (FindVma(hvpn) is null)
        {
            return null;
        }

        var fresh = new HostPte(_nextPfn++, Writable: !_readOnly.Contains(hvpn));
        _ptes[hvpn] = fresh;
        if (_swapped.Remove(hvpn, out var saved))
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
            _contents[pfn] = page = new ulong[PageWords];
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
    internal void SwapOut(ulong hvpn)
    {
        if (Lookup(hvpn) is { } pte && _contents.Remove(pte.Pfn, out var page))
        {
            _swapped[hvpn] = page;
        }

        _ptes.Remove(hvpn);
        Split(hvpn);
    }

    /// <summary>munmap(): the pages and the VMA over them go; what was swapped out is gone too.</summary>
    internal void Munmap(ulong start, ulong end)
    {
        for (var hvpn = start; hvpn < end; hvpn++)
        {
            _ptes.Remove(hvpn);
            _swapped.Remove(hvpn);
            CopyOnWrite.Remove(hvpn);
            _readOnly.Remove(hvpn);
        }

        for (var i = _vmas.Count - 1; i >= 0; i--)
        {
            var vma = _vmas[i];
            if (vma.End <= start || vma.Start >= end)
            {
                continue;
            }

            _vmas.RemoveAt(i);
            if (vma.Start < start)
            {
                _vmas.Add(vma with { End = start });
            }

            if (vma.End > end)
            {
                _vmas.Add(vma with { Start = end });
            }
        }
    }

    // User pages mprotect'ed read-only: a fault brings them back read-only too.
    private readonly HashSet<ulong> _readOnly = [];

    // User pages mprotect'ed PROT_NONE: their PTEs (and data) stay, but no access is allowed.
    private readonly HashSet<ulong> _noAccess = [];

    /// <summary>
    /// mprotect() of user page <paramref name="hvpn"/> (change_protection): the PTE stays with the
    /// new rights. On x86 PROT_WRITE and PROT_EXEC imply PROT_READ, so only PROT_NONE takes reads
    /// away; get_user_pages then fails (check_vma_flags) and so does hva_to_pfn. Making a page
    /// writable again makes an exclusive anonymous PTE writable at once (change_pte_range,
    /// can_change_pte_writable); a page shared copy-on-write stays read-only until a write breaks it.
    /// </summary>
    internal void Mprotect(ulong hvpn, SpecKit.Uapi.Prot prot)
    {
        var writable = (prot & SpecKit.Uapi.Prot.Write) != 0;
        Split(hvpn);
        if (writable)
        {
            _readOnly.Remove(hvpn);
        }
        else
        {
            _readOnly.Add(hvpn);
        }

        if (prot == SpecKit.Uapi.Prot.None)
        {
            _noAccess.Add(hvpn);
        }
        else
        {
            _noAccess.Remove(hvpn);
        }

        if (Lookup(hvpn) is { } pte)
        {
            _ptes[hvpn] = pte with { Writable = writable && !CopyOnWrite.Contains(hvpn) };
        }
    }

    /// <summary>Whether a write fault on <paramref name="hvpn"/> can get a writable page (the VMA's protection).</summary>
    public bool WritableVma(ulong hvpn) => !_readOnly.Contains(hvpn);

    /// <summary>Whether the VMA lets <paramref name="hvpn"/> be accessed at all (not PROT_NONE).</summary>
    public bool AccessibleVma(ulong hvpn) => !_noAccess.Contains(hvpn);

    /// <summary>
    /// host_pfn_mapping_level(): the size of the host page that maps <paramref name="hvpn"/>: the
    /// VMA's THP level where the aligned huge page lies inside the VMA and is still one folio,
    /// else 4K. Changing any page of a huge page (migration, a KSM merge, swap-out, mprotect)
    /// splits it.
    /// </summary>
    public int MappingLevel(ulong hvpn)
    {
        if (FindVma(hvpn) is not { } vma || !_ptes.ContainsKey(hvpn))
        {
            return 1;
        }

        for (var level = vma.Level; level > 1; level--)
        {
            var pages = 1UL << (9 * (level - 1));
            var first = hvpn & ~(pages - 1);
            if (first >= vma.Start && first + pages <= vma.End && !_split.Contains((level, first)))
            {
                return level;
            }
        }

        return 1;
    }

    // The huge pages (level, first user page) that a change to one of their pages split.
    private readonly HashSet<(int Level, ulong First)> _split = [];

    private void Split(ulong hvpn)
    {
        for (var level = 2; level <= 3; level++)
        {
            _split.Add((level, hvpn & ~((1UL << (9 * (level - 1))) - 1)));
        }
    }

    internal void Set(ulong hvpn, HostPte pte)
    {
        _ptes[hvpn] = pte;
        Split(hvpn);
    }
}
