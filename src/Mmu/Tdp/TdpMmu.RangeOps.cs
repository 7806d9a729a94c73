using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>
    /// tdp_mmu_zap_leafs(): zap present leaves in [start, end) under the current root; returns
    /// whether a flush is owed, carrying the caller's <paramref name="flush"/> in
    /// (kvm_tdp_mmu_unmap_gfn_range passes it from one root to the next, so a yield in this root
    /// first flushes what an earlier root zapped). A zap in an invalid root owes no flush: vCPUs
    /// no longer use it.
    /// </summary>
    public bool ZapLeafs(ulong start, ulong end, bool flush) => RewriteLeaves(Rules.ZapLeafs, start, end, 1, flush);

    /// <summary>wrprot_gfn_range(): clear W on leaves at or above <paramref name="minLevel"/> (kvm_tdp_mmu_wrprot_slot).</summary>
    public bool WrprotGfnRange(ulong start, ulong end, int minLevel) => RewriteLeaves(Rules.WrprotGfnRange, start, end, minLevel, false);

    /// <summary>clear_dirty_gfn_range(): clear D, or W without A/D bits, on leaves (kvm_tdp_mmu_clear_dirty_slot).</summary>
    public bool ClearDirtyGfnRange(ulong start, ulong end) => RewriteLeaves(Rules.ClearDirtyGfnRange, start, end, 1, false);

    /// <summary>kvm_tdp_mmu_write_protect_gfn(): clear W and MMU-writable on the leaves mapping <paramref name="gfn"/>.</summary>
    public bool WriteProtectGfn(ulong gfn, int minLevel) => RewriteLeaves(Rules.WriteProtectGfn, gfn, gfn + 1, minLevel, false);

    /// <summary>
    /// The walk tdp_mmu_zap_leafs(), wrprot_gfn_range(), clear_dirty_gfn_range() and
    /// write_protect_gfn() share (for_each_tdp_pte_min_level over present leaves), each step
    /// as the operation's policy says: yield where mmu_lock is contended (Yield), zap or clear
    /// the bits its Changes name, record what RecordsDirty/RecordsAccessed say, and owe or do the
    /// flush its Flush says. Returns the pending flush for Flush OnChange, else whether any SPTE
    /// changed.
    /// </summary>
    private bool RewriteLeaves(OperationPolicy policy, ulong start, ulong end, int minLevel, bool flush)
    {
        var zap = (policy.Changes & SpteChange.Zap) != 0;
        var clear = ClearedBits(policy.Changes);
        var changed = false;
        var gfns = StartChanges();
        for (var iter = StartWalk(minLevel, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            if (CondResched(ref iter, policy, ref flush))
            {
                continue;
            }

            if (!Visited(policy, iter) || iter.Level < minLevel || (!zap && (iter.OldSpte & clear) == 0))
            {
                continue;
            }

            SetSpte(ref iter, zap ? Masks.NonPresentValue : iter.OldSpte & ~clear, policy.Name);
            changed = true;
            gfns?.Add(iter.Gfn);
            Record(policy, iter.Gfn);

            // tdp_mmu_zap_leafs(): "Zapping SPTEs in invalid roots doesn't require a TLB flush".
            if (policy.Flush == FlushPolicy.OnChange && !_walkRoot.Invalid)
            {
                flush = true;
            }
        }

        return EndWalk(policy, KernelName(policy.Operation), DescribeChange(policy), gfns, changed, flush);
    }

    /// <summary>
    /// The walk's test of each SPTE, as policy Visits says: Leaves is tdp_root_for_each_leaf_pte's
    /// and tdp_mmu_zap_leafs' "if (!is_shadow_present_pte(iter.old_spte) ||
    /// !is_last_spte(iter.old_spte, iter.level)) continue;"; AllLevels acts on present page-table
    /// entries too, as __tdp_mmu_zap_root does.
    /// </summary>
    private static bool Visited(OperationPolicy policy, in TdpIter iter) =>
        iter.IsPresent && (iter.IsLast || policy.Visits == Policy.Visits.AllLevels);

    /// <summary>The tdp_mmu.c function that runs an operation's walk, as the log names it.</summary>
    private static string KernelName(MmuOperation operation) => operation switch
    {
        MmuOperation.ZapLeafs => "tdp_mmu_zap_leafs",
        MmuOperation.WrprotGfnRange => "wrprot_gfn_range",
        MmuOperation.ClearDirtyGfnRange => "clear_dirty_gfn_range",
        MmuOperation.WriteProtectGfn => "write_protect_gfn",
        MmuOperation.ClearDirtyPtMasked => "clear_dirty_pt_masked",
        MmuOperation.AgeGfnRange => "kvm_tdp_mmu_age_gfn_range",
        _ => operation.ToString(),
    };

    /// <summary>
    /// The SPTE bits a policy's Changes clear: W, MMU-writable, A, and for Dirty the bit dirty
    /// tracking clears, which is W when the MMU has no A/D bits to rely on (clear_dirty_gfn_range's dbit).
    /// </summary>
    private ulong ClearedBits(SpteChange changes) =>
        ((changes & SpteChange.Writable) != 0 ? SpteMasks.Writable : 0)
        | ((changes & SpteChange.MmuWritable) != 0 ? Masks.MmuWritableMask : 0)
        | ((changes & SpteChange.Accessed) != 0 ? Masks.AccessedMask : 0)
        | ((changes & SpteChange.Dirty) != 0 ? DirtyBit : 0);

    /// <summary>
    /// tdp_mmu_zap_root() / kvm_tdp_mmu_zap_all(): zap every present SPTE under the current root
    /// from the top, so whole page tables go at once (handle_removed_pt); the caller flushes
    /// (policy ZapRoot).
    /// </summary>
    public bool ZapRoot()
    {
        var policy = Rules.ZapRoot;
        var flush = false;
        for (var iter = StartWalk(RootLevel, 0); iter.Valid; iter.Next())
        {
            if (CondResched(ref iter, policy, ref flush))
            {
                continue;
            }

            if (!iter.IsPresent)
            {
                continue;
            }

            SetSpte(ref iter, Masks.NonPresentValue, policy.Name);
            Record(policy, iter.Gfn);
            flush = true;
        }

        return flush;
    }

    /// <summary>
    /// tdp_mmu_split_huge_pages_root(): split every huge leaf in [start, end) under the current
    /// root down to <paramref name="targetLevel"/>, pre-order, so a 1G page becomes 2M pages that
    /// are split in turn. Each child table is filled from the huge SPTE (make_small_spte) and then
    /// linked; the translation does not change, so no flush (policy SplitHugePages).
    /// </summary>
    public int SplitHugePages(ulong start, ulong end, int targetLevel)
    {
        var policy = Rules.SplitHugePages;
        var split = 0;
        var flush = false;
        for (var iter = StartWalk(targetLevel + 1, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            if (CondResched(ref iter, policy, ref flush))
            {
                continue;
            }

            if (!iter.IsPresent || !iter.IsLast || iter.Level <= targetLevel)
            {
                continue;
            }

            var child = Tables.Alloc(Masks.NonPresentValue);
            var table = Tables[child];
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                table[i] = Masks.MakeSmall(iter.OldSpte, iter.Level - 1, i, roleExecutable: true, Kvm.NxHugePages);
            }

            SetSpte(ref iter, Masks.MakeNonLeaf(child, !AdEnabled), policy.Name);
            Record(policy, iter.Gfn);
            split++;
        }

        if (split > 0 && policy.Flush == FlushPolicy.Always)
        {
            FlushRemoteTlbs(policy.Name);
        }

        return split;
    }

    /// <summary>
    /// recover_huge_pages_range() (v6.13+, David Matlack): where the slot may map huge again,
    /// replace a page table by a huge SPTE made from its first present leaf (make_huge_spte), so
    /// the table is freed; the caller flushes the memslot if one was recovered since the last yield (policy RecoverHugePages).
    /// </summary>
    public (int Recovered, bool FlushOwed) RecoverHugePages(ulong start, ulong end, Func<ulong, int> maxMappingLevel)
    {
        var policy = Rules.RecoverHugePages;
        var recovered = 0;
        var flush = false;
        for (var iter = StartWalk(2, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            if (CondResched(ref iter, policy, ref flush))
            {
                continue;
            }

            // Upper-level entries that begin below the range are visited too (tdp_iter rounds the
            // start down): only whole huge pages inside [start, end) qualify.
            if (iter.Level > TdpWalker.MaxHugePageLevel || !iter.IsPresent || iter.IsLast || iter.Gfn < start
                || iter.Gfn + TdpWalker.PagesPerHpage(iter.Level) > end || maxMappingLevel(iter.Gfn) < iter.Level)
            {
                continue;
            }

            if (FirstLeafBelow(TdpWalker.SpteToPfn(iter.OldSpte), iter.Level - 1) is not { } small)
            {
                continue;
            }

            SetSpte(ref iter, Masks.MakeHuge(small, iter.Level, Kvm.NxHugePages), policy.Name);
            Record(policy, iter.Gfn);
            recovered++;

            // "flush = true": a yield after this flushes first (Yield FlushFirst).
            flush = true;
        }

        return (recovered, flush);
    }

    /// <summary>
    /// tdp_mmu_make_huge_spte()'s walk: the first present leaf in GFN order anywhere below the
    /// table (tdp_root_for_each_leaf_pte over the parent's range), so a 1G page split down to 4K
    /// is rebuilt from a 4K leaf in one step, not from 2M leaves that do not exist yet.
    /// </summary>
    private ulong? FirstLeafBelow(ulong tablePfn, int level)
    {
        foreach (var entry in Tables[tablePfn])
        {
            if (!TdpWalker.IsShadowPresent(entry))
            {
                continue;
            }

            if (TdpWalker.IsLastSpte(entry, level))
            {
                return entry;
            }

            if (FirstLeafBelow(TdpWalker.SpteToPfn(entry), level - 1) is { } leaf)
            {
                return leaf;
            }
        }

        return null;
    }

    /// <summary>
    /// clear_dirty_pt_masked(): re-protect the 4K leaves of one 64-page mask starting at
    /// <paramref name="gfn"/> (policy ClearDirtyPtMasked): clear W when <paramref name="wrprot"/>
    /// (kvm_mmu_write_protect_pt_masked), else the dirty bit, D, or W without A/D bits
    /// (kvm_mmu_clear_dirty_pt_masked for PML: "dbit = (wrprot || !kvm_ad_enabled) ? PT_WRITABLE_MASK
    /// : shadow_dirty_mask"), so a later write sets D and is logged again. The mask's pages need not lie in one page
    /// table: a slot's base need not be 64-aligned, and a ring reset's mask starts at any offset.
    /// A huge leaf is skipped: it was write-protected when logging started.
    /// </summary>
    public void ClearDirtyPtMasked(ulong gfn, ulong mask, bool wrprot)
    {
        var policy = Rules.ClearDirtyPtMasked;
        var records = policy.RecordsDirty || policy.RecordsAccessed;
        var dbit = ClearDirtyPtMaskedBit(wrprot);
        var presentDirty = SpteMasks.MmuPresent | dbit;
        if (mask == 0 || dbit == 0)
        {
            return;
        }

        // A whole word in one 4K table, dirty through and through (a write burst): clear dbit across
        // the 64 entries in one pass. Writing an entry back unchanged is no change.
        var first = (int)(gfn & (TdpWalker.EntriesPerTable - 1));
        if (mask == ulong.MaxValue && first + 64 <= TdpWalker.EntriesPerTable && !records && !Kvm.Log.Enabled && LeafTableFor(gfn) is { } whole)
        {
            var table = whole.AsSpan(first, 64);
            for (var i = 0; i < table.Length; i++)
            {
                var spte = table[i];
                table[i] = (spte & presentDirty) == presentDirty ? spte & ~dbit : spte;
            }

            return;
        }

        var gfns = StartChanges();
        for (var bits = mask; bits != 0; bits &= bits - 1)
        {
            var page = gfn + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bits);
            if (LeafTableFor(page) is not { } leaves)
            {
                continue;
            }

            // tdp_mmu_clear_spte_bits(): a plain bit clear, no handle_changed_spte(); MMU-writable
            // stays, so the writable-state invariants cannot break here.
            ref var entry = ref leaves[(int)(page & (TdpWalker.EntriesPerTable - 1))];
            if ((entry & presentDirty) == presentDirty)
            {
                entry &= ~dbit;
                gfns?.Add(page);
                if (records)
                {
                    Record(policy, page);
                }
            }
        }

        LogChanges(KernelName(policy.Operation), dbit == SpteMasks.Writable ? "cleared W" : "cleared D", gfns);
    }

    /// <summary>
    /// The bit clear_dirty_pt_masked() clears, "dbit = (wrprot || !kvm_ad_enabled(kvm)) ?
    /// PT_WRITABLE_MASK : shadow_dirty_mask", as far as the ClearDirtyPtMasked policy's Changes
    /// name it: a spec without Dirty never re-arms PML, one without Writable never re-protects
    /// (0: the operation clears nothing). Other bits its Changes might add are not read here.
    /// </summary>
    private ulong ClearDirtyPtMaskedBit(bool wrprot) => (wrprot ? SpteMasks.Writable : DirtyBit) & ClearedBits(Rules.ClearDirtyPtMasked.Changes);

    /// <summary>
    /// kvm_tdp_mmu_age_gfn_range() on the current root: for each accessed leaf, clear A, or for an
    /// A/D-disabled SPTE mark it for access tracking (kvm_tdp_mmu_age_spte); returns whether any
    /// was young (policy AgeGfnRange). test_young only looks.
    /// </summary>
    private bool AgeRoot(ulong start, ulong end, bool testOnly)
    {
        var policy = Rules.AgeGfnRange;
        var young = false;
        var gfns = StartChanges();
        for (var iter = StartWalk(1, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            if (!Visited(policy, iter) || !Masks.IsAccessed(iter.OldSpte))
            {
                continue;
            }

            young = true;
            if (testOnly)
            {
                return true;
            }

            SetSpte(ref iter, Masks.MarkForAccessTrack(iter.OldSpte), policy.Name);
            gfns?.Add(iter.Gfn);
            Record(policy, iter.Gfn);
        }

        LogChanges(KernelName(policy.Operation), AdEnabled ? "cleared A" : "marked for access tracking", gfns);

        if (young && !testOnly && policy.Flush is FlushPolicy.Always or FlushPolicy.OnChange)
        {
            FlushRemoteTlbs(policy.Name);
        }

        return young;
    }

    /// <summary>
    /// kvm_tdp_mmu_set_spte_gfn() (.change_pte(), v5.10..v6.9): zap the present 4K leaf, flush, and
    /// install the new host page read-only and access-tracked
    /// (kvm_mmu_changed_pte_notifier_make_spte) unless the new host PTE is writable. A non-present
    /// SPTE is left alone, which is every case once the call sits inside an invalidation that
    /// already zapped it (seed 000). Returns whether an SPTE changed.
    /// </summary>
    public override bool SetSpteGfn(ulong gfn, ulong newPfn, bool hostWritable)
    {
        var policy = Rules.ChangePte;
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (iter.Level != 1)
            {
                continue;
            }

            if (!iter.IsPresent)
            {
                return false;
            }

            var old = iter.OldSpte;
            SetSpte(ref iter, Masks.NonPresentValue, policy.Name);
            FlushRemoteTlbs($"{policy.Name}: gfn 0x{gfn:x}");
            if (!hostWritable)
            {
                var spte = (old & ~SpteValues.SPTE_BASE_ADDR_MASK) | (newPfn << 12);
                spte &= ~(SpteMasks.Writable | Masks.HostWritableMask | Masks.MmuWritableMask);
                SetSpte(ref iter, Masks.MarkForAccessTrack(spte), policy.Name);
            }

            Record(policy, gfn);
            return true;
        }

        return false;
    }
}
