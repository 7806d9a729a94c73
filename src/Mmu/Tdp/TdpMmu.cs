using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.PageTables;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Tdp;

/// <summary>RET_PF_* (mmu_internal.h).</summary>
public enum PageFaultResult
{
    Continue,
    Retry,
    Emulate,
    WriteProtected,
    Invalid,
    Fixed,
    Spurious,
}

/// <summary>
/// The TDP MMU (arch/x86/kvm/mmu/tdp_mmu.c) on EPT or NPT: its roots, the fault path, and the
/// range operations, each consulting its <see cref="OperationPolicy"/> from the spec for what it
/// records, flushes and whether it may yield. Every SPTE bit that depends on the format is read
/// through the VM's <see cref="SpteMasks"/>.
/// </summary>
public sealed partial class TdpMmu : X86Mmu
{
    public const int RootLevel = 4;

    private readonly MmuKind _kind;

    public TdpMmu(Kvm.Kvm kvm, SpteMasks masks, MmuKind kind)
        : base(kvm, masks)
    {
        _kind = kind;
        _walkRoot = new TdpRoot(Tables.Alloc(Masks.NonPresentValue), isMirror: false, kvm.GfnDirectBits);
        Roots.Add(_walkRoot);
        if (kvm.IsMirrored)
        {
            AllocMirrorRoot();
        }
    }

    public override MmuKind Kind => _kind;

    /// <summary>kvm_ad_enabled: the eptad module parameter on EPT; NPT always has A/D bits.</summary>
    public override bool AdEnabled => _kind == MmuKind.TdpNpt || Kvm.EptAdBits;

    public PageTableStore Tables { get; } = new();

    /// <summary>kvm->arch.tdp_mmu_roots: valid and invalid roots, direct and (TDX) mirror.</summary>
    public List<TdpRoot> Roots { get; } = [];

    // The root walks start from: the valid direct root, unless an operation is iterating the roots
    // (for_each_tdp_mmu_root) or a fault picked the mirror root (tdp_mmu_get_root_for_fault).
    private TdpRoot _walkRoot;

    /// <summary>The root the current walk uses.</summary>
    public TdpRoot WalkRoot => _walkRoot;

    /// <summary>The table of the root the current walk uses.</summary>
    public ulong Root => _walkRoot.TablePfn;

    /// <summary>The valid direct root: what a vCPU of a non-TDX VM, or a TDX VM's shared access, runs on.</summary>
    public TdpRoot DirectRoot => Roots.First(r => !r.IsMirror && !r.Invalid);

    /// <summary>A walk under the current root (for_each_tdp_pte_min_level).</summary>
    public TdpIter StartWalk(int minLevel, ulong start) => TdpIter.Start(Tables, Root, RootLevel, minLevel, start, _walkRoot.GfnBits);

    /// <summary>Runs <paramref name="action"/> with walks starting at <paramref name="root"/>.</summary>
    public T On<T>(TdpRoot root, Func<T> action)
    {
        var outer = _walkRoot;
        _walkRoot = root;
        try
        {
            return action();
        }
        finally
        {
            _walkRoot = outer;
        }
    }

    /// <summary>The leaf SPTE that maps <paramref name="gfn"/> under the current root, with its level, or null.</summary>
    public (ulong Spte, int Level)? LeafFor(ulong gfn)
    {
        var table = Tables[Root];
        for (var level = RootLevel; level >= 1; level--)
        {
            var spte = table[TdpWalker.SpteIndex(gfn | _walkRoot.GfnBits, level)];
            if (!TdpWalker.IsShadowPresent(spte))
            {
                return null;
            }

            if (TdpWalker.IsLastSpte(spte, level))
            {
                return (spte, level);
            }

            table = Tables[TdpWalker.SpteToPfn(spte)];
        }

        return null;
    }

    // Bumped whenever a page table is linked or unlinked, so a cached lookup of a 4K table
    // (LeafTableFor) knows when it has gone stale.
    private ulong _structureGeneration;
    private (ulong Generation, TdpRoot? Root, ulong TableGfn, ulong[]? Table) _lastLeafTable = (ulong.MaxValue, null, 0, null);

    /// <summary>
    /// The 4K page table covering <paramref name="gfn"/>, or null when a huge leaf or a hole is in
    /// the way. The last answer is kept until the tree's shape changes: the dirty-log path asks
    /// once per 64-page word, eight times in a row for the same table.
    /// </summary>
    internal ulong[]? LeafTableFor(ulong gfn)
    {
        var tableGfn = TdpWalker.GfnRoundForLevel(gfn, 2);
        if (_lastLeafTable.Generation == _structureGeneration && _lastLeafTable.TableGfn == tableGfn && _lastLeafTable.Root == _walkRoot)
        {
            return _lastLeafTable.Table;
        }

        var table = Tables[Root];
        ulong[]? found = null;
        for (var level = RootLevel; level > 1; level--)
        {
            var spte = table[TdpWalker.SpteIndex(gfn | _walkRoot.GfnBits, level)];
            if (!TdpWalker.IsShadowPresent(spte) || TdpWalker.IsLastSpte(spte, level))
            {
                break;
            }

            table = Tables[TdpWalker.SpteToPfn(spte)];
            if (level == 2)
            {
                found = table;
            }
        }

        _lastLeafTable = (_structureGeneration, _walkRoot, tableGfn, found);
        return found;
    }

    /// <summary>
    /// tdp_mmu_set_spte() + handle_changed_spte(): write the SPTE, then check the rules a change
    /// must keep and free any page table it unlinked.
    /// </summary>
    internal void SetSpte(ref TdpIter iter, ulong newSpte, string operation)
    {
        var old = iter.OldSpte;
        iter.Sptep = newSpte;
        iter.OldSpte = newSpte;
        HandleChangedSpte(iter.Gfn, old, newSpte, iter.Level, operation);
    }

    /// <param name="shared">Under mmu_lock for read (tdp_mmu_set_spte_atomic): an unlinked table is
    /// torn down by the caller, step by step (<see cref="HandleRemovedPtShared"/>), not here.</param>
    private void HandleChangedSpte(ulong gfn, ulong old, ulong @new, int level, string operation, bool shared = false)
    {
        var wasPresent = TdpWalker.IsShadowPresent(old);
        var isPresent = TdpWalker.IsShadowPresent(@new);
        var wasLeaf = wasPresent && TdpWalker.IsLastSpte(old, level);
        var isLeaf = isPresent && TdpWalker.IsLastSpte(@new, level);

        // handle_changed_spte(): a present leaf may not be replaced by one with another PFN;
        // the MMU notifier must have zapped it first (this is the BUG() in the kernel).
        KvmWarn.On(
            wasLeaf && isLeaf && TdpWalker.SpteToPfn(old) != TdpWalker.SpteToPfn(@new),
            $"{operation}: present leaf at gfn 0x{gfn:x} changed PFN 0x{TdpWalker.SpteToPfn(old):x} -> 0x{TdpWalker.SpteToPfn(@new):x} without a zap");
        if (isLeaf)
        {
            Masks.CheckWritableInvariants(@new, gfn, operation);
        }

        if ((wasPresent && !wasLeaf) || (isPresent && !isLeaf))
        {
            _structureGeneration++;
        }

        if (_walkRoot.IsMirror)
        {
            ExternalHook(gfn, @new, level, wasLeaf, isLeaf, wasPresent && !wasLeaf, isPresent && !isLeaf);
        }

        if (wasPresent && !wasLeaf && (isLeaf || !isPresent) && !shared)
        {
            HandleRemovedPt(TdpWalker.SpteToPfn(old), gfn, level - 1, operation);
        }
    }

    /// <summary>handle_removed_pt(): freeze every entry of an unlinked table, recurse, then free it.</summary>
    private void HandleRemovedPt(ulong tablePfn, ulong baseGfn, int level, string operation)
    {
        var table = Tables[tablePfn];
        if (level == 1 && !_walkRoot.IsMirror)
        {
            // Every entry of a 4K table is a leaf or not present, and a leaf going to FROZEN has
            // nothing else to do (no dirty log, no child; a mirror root's leaves have S-EPT
            // entries to remove), so the whole table is frozen at once.
            table.AsSpan().Fill(Masks.FrozenSpte);
            FreeTable(tablePfn);
            return;
        }

        for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
        {
            var old = table[i];
            table[i] = Masks.FrozenSpte;
            if (TdpWalker.IsShadowPresent(old))
            {
                HandleChangedSpte(baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level)), old, Masks.FrozenSpte, level, operation);
            }
        }

        FreeTable(tablePfn);
    }

    private void FreeTable(ulong tablePfn)
    {
        if (_nxHugePageDisallowed.Count > 0)
        {
            UntrackPossibleNxHugePage(tablePfn);
        }

        Tables.Free(tablePfn);
    }

    /// <summary>
    /// The yield point of a range operation (tdp_mmu_iter_cond_resched): the scenario decides when
    /// mmu_lock is contended; a pending flush happens first when the policy says so. As in the
    /// kernel, a walk that has made no progress since it started or last yielded
    /// ("if (iter->next_last_level_gfn == iter->yielded_gfn) return false;") does not look at
    /// contention at all, so it leaves the scenario's contention point to a walk that can yield.
    /// </summary>
    internal bool CondResched(ref TdpIter iter, OperationPolicy policy, ref bool flush)
    {
        if (policy.Yield == YieldPolicy.No || !iter.CanYield || !Kvm.Contention.ShouldYield(iter.Gfn))
        {
            return false;
        }

        if (flush && policy.Yield == YieldPolicy.FlushFirst)
        {
            FlushRemoteTlbs($"{policy.Name}: before yielding at gfn 0x{iter.Gfn:x}");
            flush = false;
        }

        iter.Yield();
        Kvm.MmuLockDropped(policy.Name, iter.NextLastLevelGfn);
        if (policy.AfterYield == YieldRestart.RestartThenAdvance)
        {
            // Before 3a0f64de479c tdp_mmu_iter_cond_resched() called tdp_iter_restart() itself, and
            // the caller's "continue" then ran tdp_iter_next(), which advanced past the restart.
            iter.Next();
        }

        return true;
    }

    /// <summary>The TLB key of <paramref name="gfn"/> under the root a vCPU uses for it, and that root.</summary>
    public override (ulong Spte, ulong Pfn)? CurrentTranslation(KvmVcpu vcpu, ulong tlbKey)
    {
        var root = (tlbKey & Kvm.GfnDirectBits) != 0 || MirrorRoot is null ? DirectRoot : MirrorRoot;
        var gfn = tlbKey & ~Kvm.GfnDirectBits;
        return On(root, () => LeafFor(gfn) is { } leaf ? (leaf.Spte, TdpWalker.SpteToPfn(leaf.Spte) + (gfn & (TdpWalker.PagesPerHpage(leaf.Level) - 1))) : ((ulong, ulong)?)null);
    }

    /// <summary>
    /// The present leaves of every root: (GFN as the root indexes it, without its GFN bits), level, SPTE).
    /// A plain pre-order scan of the tables, not a TdpIter walk: the checker asks for them after
    /// every operation, and the scan is what the iterator's order comes to.
    /// </summary>
    public override IEnumerable<(ulong Gfn, int Level, ulong Spte)> Leaves()
    {
        var leaves = new List<(ulong Gfn, int Level, ulong Spte)>();
        foreach (var root in Roots)
        {
            Scan(root.TablePfn, RootLevel, 0, root.GfnBits);
        }

        return leaves;

        void Scan(ulong tablePfn, int level, ulong baseGfn, ulong gfnBits)
        {
            var table = Tables[tablePfn];
            var pages = TdpWalker.PagesPerHpage(level);
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                var spte = table[i];
                if (!TdpWalker.IsShadowPresent(spte))
                {
                    continue;
                }

                var gfn = baseGfn + ((ulong)i * pages);
                if (TdpWalker.IsLastSpte(spte, level))
                {
                    leaves.Add((gfn & ~gfnBits, level, spte));
                }
                else
                {
                    Scan(TdpWalker.SpteToPfn(spte), level - 1, gfn, gfnBits);
                }
            }
        }
    }
}
