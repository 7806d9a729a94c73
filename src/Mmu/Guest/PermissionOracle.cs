namespace SpecKit.Mmu.Guest;

/// <summary>
/// What a guest access does, from the entries' bits and the CPU state: fault or not, the
/// #PF error code, and the Accessed/Dirty bits the walk sets. Not a second copy of the rules:
/// it writes the entries into a page table in guest memory and runs <see cref="GuestWalker.Walk(IGuestMemory, GuestMmu, ulong, GuestAccess, out GuestWalk)"/>.
/// An instance keeps its tables between checks (as access.c keeps its pool), so enumerating
/// every combination is cheap; <see cref="Evaluate"/> is the one-off form.
/// </summary>
public sealed class PermissionOracle
{
    /// <summary>A distinct index at every level (PML5E 1, PML4E 2, PDPTE 3, PDE 4, PTE 5) and an offset, so a mix-up shows.</summary>
    public const ulong Addr = (1UL << 48) | (2UL << 39) | (3UL << 30) | (4UL << 21) | (5UL << 12) | 0x9a8;

    /// <summary>The page the entries map: 1 GiB, aligned for every leaf size.</summary>
    public const ulong PageGpa = 1UL << 30;

    private readonly Dictionary<int, GuestPageTables> _trees = [];
    private readonly Dictionary<GuestCpuState, GuestMmu> _roles = [];
    private readonly ulong[] _before = new ulong[GuestWalker.MaxRootLevel];

    /// <summary>One check with fresh tables.</summary>
    public static PermissionVerdict Evaluate(GuestCpuState cpu, GuestAccess access, params ReadOnlySpan<ulong> entryBits) =>
        new PermissionOracle().Check(cpu, access, entryBits);

    /// <summary>
    /// Runs <paramref name="access"/> to <see cref="Addr"/> through entries with the given bits,
    /// root first (see <see cref="GuestPageTables.Map"/>: four entries under a 4-level root end
    /// in a 4K PTE, three in a 2M PDE, two in a 1G PDPTE; CR4.LA57 adds the PML5E in front).
    /// </summary>
    public PermissionVerdict Check(GuestCpuState cpu, GuestAccess access, params ReadOnlySpan<ulong> entryBits)
    {
        var rootLevel = cpu.RootLevel;
        if (!_trees.TryGetValue(rootLevel, out var tables))
        {
            tables = new GuestPageTables(new SparseGuestMemory(), rootLevel);
            _trees[rootLevel] = tables;
        }

        tables.Map(Addr, PageGpa, entryBits);
        var leafLevel = rootLevel - entryBits.Length + 1;
        for (var level = rootLevel; level >= leafLevel; level--)
        {
            _before[level - 1] = tables.Memory.ReadPte(tables.EntryGpa(Addr, level));
        }

        var role = cpu with { Cr3 = 0, EflagsAc = false, Pkru = 0 };
        if (!_roles.TryGetValue(role, out var mmu))
        {
            mmu = new GuestMmu(role);
            _roles[role] = mmu;
        }

        var ok = GuestWalker.Walk(tables.Memory, mmu.WithCpu(cpu with { Cr3 = tables.RootGpa }), Addr, access, out var walk);

        var set = new ulong[GuestWalker.MaxRootLevel];
        for (var level = rootLevel; level >= leafLevel; level--)
        {
            set[level - 1] = tables.Memory.ReadPte(tables.EntryGpa(Addr, level)) & ~_before[level - 1];
        }

        return new PermissionVerdict(!ok, ok ? 0 : walk.ErrorCode, walk.Level, leafLevel, rootLevel, ok ? walk.Gpa : 0, ok ? walk.PteAccess : 0, set);
    }
}

/// <summary>The oracle's answer for one access.</summary>
public sealed class PermissionVerdict
{
    private readonly ulong[] _set;

    internal PermissionVerdict(bool fault, ulong errorCode, int level, int leafLevel, int rootLevel, ulong gpa, uint pteAccess, ulong[] set)
    {
        Fault = fault;
        ErrorCode = errorCode;
        Level = level;
        LeafLevel = leafLevel;
        RootLevel = rootLevel;
        Gpa = gpa;
        PteAccess = pteAccess;
        _set = set;
    }

    public bool Fault { get; }

    /// <summary>The #PF error code; 0 without a fault.</summary>
    public ulong ErrorCode { get; }

    /// <summary>The level the walk stopped at: the leaf, or the entry that faulted.</summary>
    public int Level { get; }

    public int LeafLevel { get; }

    public int RootLevel { get; }

    /// <summary>The translation, without a fault.</summary>
    public ulong Gpa { get; }

    /// <summary>The rights granted (ACC_* uwx, walker->pte_access), without a fault.</summary>
    public uint PteAccess { get; }

    /// <summary>The bits the walk set in the entry at <paramref name="level"/>.</summary>
    public ulong SetBits(int level) => _set[level - 1];

    /// <summary>Levels whose Accessed bit the walk set, root first.</summary>
    public IReadOnlyList<int> AccessedSet =>
        Enumerable.Range(LeafLevel, RootLevel - LeafLevel + 1).Reverse().Where(l => (_set[l - 1] & GuestPteNonLeaf.AccessedMask) != 0).ToList();

    /// <summary>Whether the walk set the leaf's Dirty bit.</summary>
    public bool DirtySet => (_set[LeafLevel - 1] & GuestPte4K.DirtyMask) != 0;

    /// <summary>"A" with the levels it was set at (all when every level), and "D": e.g. <c>A(Pde,Pte) D</c>, <c>-</c> for none.</summary>
    public string DescribeAccessedDirty()
    {
        var accessed = AccessedSet;
        var parts = new List<string>();
        if (accessed.Count == RootLevel - LeafLevel + 1)
        {
            parts.Add("A");
        }
        else if (accessed.Count > 0)
        {
            parts.Add("A(" + string.Join(',', accessed.Select(GuestWalker.LevelName)) + ")");
        }

        if (DirtySet)
        {
            parts.Add("D");
        }

        return parts.Count == 0 ? "-" : string.Join(' ', parts);
    }

    /// <summary><c>#PF P|W</c>, or <c>ok</c>.</summary>
    public string DescribeOutcome() => Fault ? "#PF " + PfErrorCode.Describe(ErrorCode) : "ok";

    public override string ToString() => $"{DescribeOutcome()}, A/D set: {DescribeAccessedDirty()}";
}
