namespace SpecKit.Mmu.Guest;

/// <summary>
/// Builds guest page tables in guest memory, as a guest kernel would: tables are 4 KiB pages
/// taken from <see cref="TableBaseGfn"/> up, and <see cref="Map"/> writes one entry per level
/// from the root down. CR3 is <see cref="RootGpa"/>.
/// </summary>
public sealed class GuestPageTables
{
    /// <summary>Tables start at 1 MiB, away from the pages they map.</summary>
    public const ulong DefaultTableBaseGfn = 0x100;

    /// <summary>The table each non-leaf entry was given, by the entry's address: reused whatever bits the entry holds now.</summary>
    private readonly Dictionary<ulong, ulong> _children = [];
    private ulong _nextTableGfn;

    public GuestPageTables(IGuestPhysicalMemory memory, int rootLevel, ulong tableBaseGfn = DefaultTableBaseGfn)
    {
        if (rootLevel is < GuestWalker.MinRootLevel or > GuestWalker.MaxRootLevel)
        {
            throw new ArgumentOutOfRangeException(nameof(rootLevel), rootLevel, $"x86-64 paging has {GuestWalker.MinRootLevel} or {GuestWalker.MaxRootLevel} levels");
        }

        Memory = memory;
        RootLevel = rootLevel;
        TableBaseGfn = tableBaseGfn;
        _nextTableGfn = tableBaseGfn;
        RootGpa = AllocTable();
    }

    public IGuestPhysicalMemory Memory { get; }

    public int RootLevel { get; }

    public ulong TableBaseGfn { get; }

    /// <summary>The root table's address: the value for CR3.</summary>
    public ulong RootGpa { get; }

    /// <summary>How many tables the tree has, the root included.</summary>
    public int TableCount => _children.Count + 1;

    /// <summary>The GFNs of the tables, the root first: the guest's page-table pages.</summary>
    public IEnumerable<ulong> TableGfns => Enumerable.Range(0, (int)(_nextTableGfn - TableBaseGfn)).Select(i => TableBaseGfn + (ulong)i);

    /// <summary>A new zeroed table (512 not-present entries); its guest-physical address.</summary>
    public ulong AllocTable()
    {
        var gpa = _nextTableGfn++ << GuestWalker.PageShift;
        for (ulong i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            Memory.WritePte(gpa + (i * sizeof(ulong)), 0);
        }

        return gpa;
    }

    /// <summary>
    /// Maps <paramref name="addr"/> to <paramref name="pageGpa"/> with one entry per level, root
    /// first: <paramref name="entryBits"/> holds each entry's flags (P, R/W, U/S, A, D, XD, the
    /// protection key, even reserved bits), and this fills in the table or page address and, for
    /// a 2M or 1G leaf, PS. The leaf's level is the root level minus the entries after the first,
    /// so four entries under a 4-level root map a 4K page, three a 2M page, two a 1G page.
    /// A table this tree gave an entry before is reused, whatever that entry held since.
    /// </summary>
    public void Map(ulong addr, ulong pageGpa, params ReadOnlySpan<ulong> entryBits)
    {
        var leafLevel = RootLevel - entryBits.Length + 1;
        if (leafLevel is < GuestWalker.PteLevel or > GuestWalker.MaxHugePageLevel)
        {
            throw new ArgumentException($"{entryBits.Length} entries under a {RootLevel}-level root leave a leaf at level {leafLevel}; a leaf is at level 1, 2 or 3", nameof(entryBits));
        }

        var pageSize = GuestWalker.PagesPerHpage(leafLevel) << GuestWalker.PageShift;
        if ((pageGpa & (pageSize - 1)) != 0)
        {
            throw new ArgumentException($"gpa 0x{pageGpa:x} is not aligned to its {GuestWalk.PageSizeName(leafLevel)} page", nameof(pageGpa));
        }

        var tableGpa = RootGpa;
        var i = 0;
        for (var level = RootLevel; level > leafLevel; level--, i++)
        {
            var entryGpa = EntryGpaIn(tableGpa, addr, level);
            if (!_children.TryGetValue(entryGpa, out var next))
            {
                next = AllocTable();
                _children[entryGpa] = next;
            }

            Memory.WritePte(entryGpa, entryBits[i] | new GuestPteNonLeaf(0).WithTableAddr(next >> GuestPteNonLeaf.TableAddrShift).Raw);
            tableGpa = next;
        }

        var leaf = leafLevel switch
        {
            GuestWalker.PteLevel => new GuestPte4K(0).WithPageAddr(pageGpa >> GuestPte4K.PageAddrShift).Raw,
            GuestWalker.PdeLevel => new GuestPde2M(0).WithPageSize(true).WithPageAddr(pageGpa >> GuestPde2M.PageAddrShift).Raw,
            _ => new GuestPdpte1G(0).WithPageSize(true).WithPageAddr(pageGpa >> GuestPdpte1G.PageAddrShift).Raw,
        };
        Memory.WritePte(EntryGpaIn(tableGpa, addr, leafLevel), entryBits[i] | leaf);
    }

    /// <summary>Where the entry for <paramref name="addr"/> at <paramref name="level"/> lives, in the tables <see cref="Map"/> built.</summary>
    public ulong EntryGpa(ulong addr, int level)
    {
        var tableGpa = RootGpa;
        for (var l = RootLevel; l > level; l--)
        {
            if (!_children.TryGetValue(EntryGpaIn(tableGpa, addr, l), out tableGpa))
            {
                throw new InvalidOperationException($"0x{addr:x} has no {GuestWalker.LevelName(level)}: nothing was mapped through its {GuestWalker.LevelName(l)}");
            }

        }

        return EntryGpaIn(tableGpa, addr, level);
    }

    private static ulong EntryGpaIn(ulong tableGpa, ulong addr, int level) =>
        tableGpa + ((ulong)GuestWalker.SpteIndex(addr >> GuestWalker.PageShift, level) * sizeof(ulong));
}
