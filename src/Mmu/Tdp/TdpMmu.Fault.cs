using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>
    /// kvm_tdp_mmu_map(): walk to the goal level, linking new tables (or splitting a huge page in
    /// the way), then install the leaf. The caller has checked the invalidation sequence.
    /// </summary>
    public PageFaultResult Map(TdpFault fault)
    {
        var gfn = fault.Gfn;
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (_kvm.NxHugePages)
            {
                DisallowedHugepageAdjust(ref fault, iter.OldSpte, iter.Level);
            }

            if (iter.Level == fault.GoalLevel)
            {
                return MapTargetLevel(ref iter, fault);
            }

            if (iter.IsPresent && !iter.IsLast)
            {
                continue;
            }

            var child = Tables.Alloc(SpteValues.SHADOW_NONPRESENT_VALUE);
            if (iter.IsPresent)
            {
                // tdp_mmu_split_huge_page(): fill the new table from the huge SPTE, then link it.
                var table = Tables[child];
                for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
                {
                    table[i] = MakeSpte.Small(iter.OldSpte, iter.Level - 1, i);
                }
            }

            if (fault.HugePageDisallowed)
            {
                _nxHugePageDisallowed.Add(child);
            }

            SetSpte(ref iter, MakeSpte.NonLeaf(child, AdEnabled), "kvm_tdp_mmu_map");

            // track_possible_nx_huge_page(): this table stands where a huge page could be, were it
            // not for the mitigation; NX recovery may zap it so the huge page can come back.
            if (fault.HugePageDisallowed && fault.ReqLevel >= iter.Level)
            {
                _possibleNxHugePages.Add(new PossibleNxHugePage(child, iter.Gfn, iter.Level));
            }
        }

        KvmWarn.On(true, $"kvm_tdp_mmu_map: walk for gfn 0x{gfn:x} ended above level {fault.GoalLevel}");
        return PageFaultResult.Retry;
    }

    /// <summary>
    /// disallowed_hugepage_adjust() (mmu.c): where a table already stands because an earlier fetch
    /// disallowed the huge page, map one level lower rather than replace the table with a huge
    /// SPTE, which would zap the executable 4K pages under it.
    /// </summary>
    private void DisallowedHugepageAdjust(ref TdpFault fault, ulong spte, int level)
    {
        if (level > 1 && level == fault.GoalLevel && TdpWalker.IsShadowPresent(spte) && !TdpWalker.IsLastSpte(spte, level)
            && _nxHugePageDisallowed.Contains(TdpWalker.SpteToPfn(spte)))
        {
            var pageMask = TdpWalker.PagesPerHpage(level) - TdpWalker.PagesPerHpage(level - 1);
            fault = fault with { Pfn = fault.Pfn | (fault.Gfn & pageMask), GoalLevel = level - 1 };
        }
    }

    /// <summary>tdp_mmu_map_handle_target_level().</summary>
    private PageFaultResult MapTargetLevel(ref TdpIter iter, TdpFault fault)
    {
        var (gfn, level, pfn, slot) = (fault.Gfn, fault.GoalLevel, fault.Pfn, fault.Slot);

        // The spurious check: a present leaf that already allows the access (another vCPU fixed it).
        if (iter.IsPresent && iter.IsLast && MakeSpte.Allows(iter.OldSpte, fault.Access))
        {
            KvmWarn.On(TdpWalker.SpteToPfn(iter.OldSpte) != pfn, $"spurious fault at gfn 0x{gfn:x} maps a different PFN");
            return PageFaultResult.Spurious;
        }

        // make_spte(): mmu_try_to_unsync_pages() refuses a write-tracked GFN, so the SPTE is made
        // without W and MMU-writable, and a write fault reports RET_PF_WRITE_PROTECTED.
        var writeTracked = slot.IsWriteTracked(gfn);
        var writable = !slot.Flags.HasFlag(MemslotFlags.ReadOnly) && !writeTracked;
        var newSpte = MakeSpte.Leaf(pfn, level, writable, fault.HostWritable, prefetch: false, _kvm.NxHugePages, AdEnabled);
        if (newSpte == iter.OldSpte)
        {
            return PageFaultResult.Spurious;
        }

        var old = iter.OldSpte;
        SetSpte(ref iter, newSpte, "kvm_tdp_mmu_map");
        if (TdpWalker.IsShadowPresent(old) && (!TdpWalker.IsLastSpte(old, level) || MakeSpte.LeafChangeNeedsFlush(old, newSpte)))
        {
            _kvm.FlushRemoteTlbs($"kvm_tdp_mmu_map: replaced a present SPTE at gfn 0x{iter.Gfn:x}");
        }

        // make_spte(): a writable SPTE in a dirty-tracked slot marks the page dirty.
        if (MakeSpte.IsWritable(newSpte))
        {
            KvmWarn.On(level > 1 && slot.DirtyTracked, $"make_spte: writable huge SPTE at gfn 0x{gfn:x} in a dirty-tracked slot");
            _kvm.MarkPageDirtyInSlot(slot, gfn);
        }

        return writeTracked && fault.Access == AccessKind.Write ? PageFaultResult.WriteProtected : PageFaultResult.Fixed;
    }

    /// <summary>
    /// fast_page_fault(): fix a present 4K leaf locklessly when the access failed only because W
    /// was cleared with MMU-writable kept (dirty logging), or because the SPTE is access-tracked
    /// (A/D bits off); mark the page dirty only on a W 0 -> 1 transition (fast_pf_fix_direct_spte).
    /// </summary>
    public PageFaultResult FastPageFault(ulong gfn, AccessKind access, KvmMemorySlot? slot)
    {
        if (LeafFor(gfn) is not { } leaf)
        {
            return PageFaultResult.Invalid;
        }

        var spte = leaf.Spte;
        if (MakeSpte.Allows(spte, access))
        {
            return PageFaultResult.Spurious;
        }

        var newSpte = MakeSpte.IsAccessTrack(spte) ? MakeSpte.RestoreAccessTrack(spte) : spte;
        if (access == AccessKind.Write && !MakeSpte.IsWritable(newSpte))
        {
            if (!MakeSpte.IsMmuWritable(spte) || (leaf.Level > 1 && slot is { DirtyTracked: true }))
            {
                return PageFaultResult.Invalid;
            }

            newSpte |= EptSpte.WritableMask | (MakeSpte.IsAdEnabled(spte) ? EptSpte.DirtyMask : 0);
        }

        if (newSpte == spte || !MakeSpte.Allows(newSpte, access))
        {
            return PageFaultResult.Invalid;
        }

        for (var iter = StartWalk(leaf.Level, gfn); iter.Valid && iter.Gfn <= gfn; iter.Next())
        {
            if (iter.Level == leaf.Level && iter.IsPresent && iter.IsLast)
            {
                SetSpte(ref iter, newSpte, "fast_page_fault");
                if (slot is not null && !MakeSpte.IsWritable(spte) && MakeSpte.IsWritable(newSpte))
                {
                    _kvm.MarkPageDirtyInSlot(slot, gfn);
                }

                return PageFaultResult.Fixed;
            }
        }

        return PageFaultResult.Invalid;
    }

    /// <summary>
    /// The CPU's page walk setting A, and D on a write, in the leaf it used. With A/D bits off
    /// (SPTE_TDP_AD_DISABLED) the hardware sets neither.
    /// </summary>
    public void HardwareSetAccessedDirty(ulong gfn, bool write)
    {
        var table = Tables[Root];
        for (var level = RootLevel; level >= 1; level--)
        {
            ref var spte = ref table[TdpWalker.SpteIndex(gfn | _walkRoot.GfnBits, level)];
            if (TdpWalker.IsLastSpte(spte, level))
            {
                if (MakeSpte.IsAdEnabled(spte))
                {
                    spte |= EptSpte.AccessedMask | (write ? EptSpte.DirtyMask : 0);
                }

                return;
            }

            table = Tables[TdpWalker.SpteToPfn(spte)];
        }
    }
}
