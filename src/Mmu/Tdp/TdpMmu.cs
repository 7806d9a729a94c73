using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.PageTables;
using SpecKit.Mmu.Policy;

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
/// The TDP MMU (arch/x86/kvm/mmu/tdp_mmu.c): one root, the fault path, and the range operations,
/// each consulting its <see cref="OperationPolicy"/> from the spec for what it records, flushes
/// and whether it may yield.
/// </summary>
public sealed partial class TdpMmu
{
    public const int RootLevel = 4;

    private readonly Kvm.Kvm _kvm;

    public TdpMmu(Kvm.Kvm kvm)
    {
        _kvm = kvm;
        _walkRoot = new TdpRoot(Tables.Alloc(SpteValues.SHADOW_NONPRESENT_VALUE), isMirror: false, kvm.GfnDirectBits);
        Roots.Add(_walkRoot);
        _rules = kvm.Rules;
    }

    private readonly MmuRules _rules;

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

    /// <summary>A walk under the current root, as the emitted range operations start theirs (for_each_tdp_pte_min_level).</summary>
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

    /// <summary>kvm_ad_enabled: the eptad module parameter, read when SPTEs are made.</summary>
    public bool AdEnabled => _kvm.EptAdBits;

    /// <summary>
    /// The bit dirty tracking clears: D, or W when tdp_mmu_need_write_protect() says the MMU has no
    /// A/D bits to rely on (clear_dirty_gfn_range's dbit).
    /// </summary>
    public ulong DirtyBit => AdEnabled ? EptSpte.DirtyMask : EptSpte.WritableMask;

    internal void MarkPageDirty(ulong gfn) => _kvm.MarkPageDirty(gfn);

    internal void MarkPageAccessed(ulong gfn) => _kvm.MarkPageAccessed(gfn);

    internal void FlushRemoteTlbs(string reason) => _kvm.FlushRemoteTlbs(reason);

    /// <summary>The leaf SPTE that maps <paramref name="gfn"/>, with its level, or null.</summary>
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

    private void HandleChangedSpte(ulong gfn, ulong old, ulong @new, int level, string operation)
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
            CheckWritableInvariants(@new, gfn, operation);
        }

        if ((wasPresent && !wasLeaf) || (isPresent && !isLeaf))
        {
            _structureGeneration++;
        }

        if (_walkRoot.IsMirror)
        {
            ExternalHook(gfn, @new, level, wasLeaf, isLeaf, wasPresent && !wasLeaf, isPresent && !isLeaf);
        }

        if (wasPresent && !wasLeaf && (isLeaf || !isPresent))
        {
            HandleRemovedPt(TdpWalker.SpteToPfn(old), gfn, level - 1, operation);
        }
    }

    /// <summary>
    /// check_spte_writable_invariants(): only (HostW, MmuW, W) = 111, 110, 100 and 000 are legal.
    /// </summary>
    private static void CheckWritableInvariants(ulong spte, ulong gfn, string operation)
    {
        var e = new EptSpte(spte);
        KvmWarn.On(e.MmuWritable && !e.HostWritable, $"{operation}: gfn 0x{gfn:x} is MMU-writable but not host-writable");
        KvmWarn.On(e.Writable && !e.MmuWritable, $"{operation}: gfn 0x{gfn:x} is writable but not MMU-writable");
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
            table.AsSpan().Fill(SpteValues.FROZEN_SPTE);
            FreeTable(tablePfn);
            return;
        }

        for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
        {
            var old = table[i];
            table[i] = SpteValues.FROZEN_SPTE;
            if (TdpWalker.IsShadowPresent(old))
            {
                HandleChangedSpte(baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level)), old, SpteValues.FROZEN_SPTE, level, operation);
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
    /// mmu_lock is contended; a pending flush happens first when the policy says so.
    /// </summary>
    internal bool CondResched(ref TdpIter iter, OperationPolicy policy, ref bool flush)
    {
        if (policy.Yield == YieldPolicy.No || !_kvm.Contention.ShouldYield(iter.Gfn) || !iter.CanYield)
        {
            return false;
        }

        if (flush && policy.Yield == YieldPolicy.FlushFirst)
        {
            _kvm.FlushRemoteTlbs($"{policy.Name}: before yielding at gfn 0x{iter.Gfn:x}");
            flush = false;
        }

        iter.Yield();
        _kvm.MmuLockDropped(policy.Name, iter.NextLastLevelGfn);
        return true;
    }
}
