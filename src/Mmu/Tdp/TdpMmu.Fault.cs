using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>
    /// kvm_tdp_mmu_map(): walk to the goal level, linking new tables (or splitting a huge page in
    /// the way), then install the leaf. The caller has checked the invalidation sequence.
    /// </summary>
    public PageFaultResult Map(ulong gfn, int goalLevel, ulong pfn, bool write, bool hostWritable, KvmMemorySlot slot)
    {
        for (var iter = TdpIter.Start(Tables, Root, RootLevel, 1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (iter.Level == goalLevel)
            {
                return MapTargetLevel(ref iter, gfn, goalLevel, pfn, write, hostWritable, slot);
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

            SetSpte(ref iter, MakeSpte.NonLeaf(child), "kvm_tdp_mmu_map");
        }

        KvmWarn.On(true, $"kvm_tdp_mmu_map: walk for gfn 0x{gfn:x} ended above level {goalLevel}");
        return PageFaultResult.Retry;
    }

    /// <summary>tdp_mmu_map_handle_target_level().</summary>
    private PageFaultResult MapTargetLevel(ref TdpIter iter, ulong gfn, int level, ulong pfn, bool write, bool hostWritable, KvmMemorySlot slot)
    {
        // The spurious check: a present leaf that already allows the access (another vCPU fixed it).
        if (iter.IsPresent && iter.IsLast && (!write || MakeSpte.IsWritable(iter.OldSpte)))
        {
            KvmWarn.On(TdpWalker.SpteToPfn(iter.OldSpte) != pfn, $"spurious fault at gfn 0x{gfn:x} maps a different PFN");
            return PageFaultResult.Spurious;
        }

        var newSpte = MakeSpte.Leaf(pfn, level, writable: !slot.Flags.HasFlag(MemslotFlags.ReadOnly), hostWritable, prefetch: false);
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

        return PageFaultResult.Fixed;
    }

    /// <summary>
    /// fast_page_fault(): restore W locklessly on a present, MMU-writable 4K leaf; mark the page dirty
    /// only on a W 0 -> 1 transition (fast_pf_fix_direct_spte).
    /// </summary>
    public PageFaultResult FastPageFault(ulong gfn, bool write, KvmMemorySlot? slot)
    {
        if (!write || LeafFor(gfn) is not { } leaf)
        {
            return PageFaultResult.Invalid;
        }

        if (MakeSpte.IsWritable(leaf.Spte))
        {
            return PageFaultResult.Spurious;
        }

        if (!MakeSpte.IsMmuWritable(leaf.Spte) || (leaf.Level > 1 && slot is { DirtyTracked: true }))
        {
            return PageFaultResult.Invalid;
        }

        for (var iter = TdpIter.Start(Tables, Root, RootLevel, leaf.Level, gfn); iter.Valid && iter.Gfn <= gfn; iter.Next())
        {
            if (iter.Level == leaf.Level && iter.IsPresent && iter.IsLast)
            {
                SetSpte(ref iter, iter.OldSpte | EptSpte.WritableMask | EptSpte.DirtyMask, "fast_page_fault");
                if (slot is not null)
                {
                    _kvm.MarkPageDirtyInSlot(slot, gfn);
                }

                return PageFaultResult.Fixed;
            }
        }

        return PageFaultResult.Invalid;
    }

    /// <summary>The CPU's page walk setting A, and D on a write, in the leaf it used (EPT A/D bits enabled).</summary>
    public void HardwareSetAccessedDirty(ulong gfn, bool write)
    {
        var table = Tables[Root];
        for (var level = RootLevel; level >= 1; level--)
        {
            ref var spte = ref table[TdpWalker.SpteIndex(gfn, level)];
            if (TdpWalker.IsLastSpte(spte, level))
            {
                spte |= EptSpte.AccessedMask | (write ? EptSpte.DirtyMask : 0);
                return;
            }

            table = Tables[TdpWalker.SpteToPfn(spte)];
        }
    }
}
