using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdx;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

// The shadow MMU's side of the hooks mmu.c dispatches to the rmaps (kvm_memslots_have_rmaps).
// Each rmap operation follows the same policy as its TDP MMU counterpart, for what it records,
// flushes and whether it yields: the two walks are the kernel's two implementations of one
// operation (kvm_zap_rmap / tdp_mmu_zap_leafs, slot_rmap_write_protect / wrprot_gfn_range, ...).
public sealed partial class ShadowMmu
{
    /// <summary>
    /// The rmap walk the operations share (__walk_slot_rmaps over [start, end) and the levels from
    /// <paramref name="minLevel"/> up): for each SPTE in each rmap, <paramref name="change"/> gives
    /// the new SPTE (or null to leave it; <see cref="X86.SpteMasks.NonPresentValue"/> to drop
    /// it), recorded and flushed as the policy says, yielding where mmu_lock is contended
    /// (cond_resched_rwlock_write, after the pending flush when the policy says FlushFirst).
    /// Returns the pending flush for Flush OnChange, else whether any SPTE changed.
    /// </summary>
    private bool WalkRmaps(OperationPolicy policy, ulong start, ulong end, int minLevel, Func<ShadowPage, int, ulong, ulong?> change, bool flush = false)
    {
        var changed = false;
        var gfns = StartChanges();
        for (var level = minLevel; level <= GuestWalker.MaxHugePageLevel; level++)
        {
            var pages = GuestWalker.PagesPerHpage(level);
            for (var gfn = GuestWalker.GfnRoundForLevel(start, level); gfn < end; gfn += pages)
            {
                if (policy.Yield != YieldPolicy.No && Kvm.Contention.ShouldYield(gfn))
                {
                    if (flush && policy.Yield == YieldPolicy.FlushFirst)
                    {
                        FlushRemoteTlbs($"{policy.Name}: before yielding at gfn 0x{gfn:x}");
                        flush = false;
                    }

                    Kvm.MmuLockDropped(policy.Name, gfn);
                }

                foreach (var (sp, index) in Rmap(gfn, level).ToList())
                {
                    var old = sp.Spt[index];
                    if (change(sp, index, old) is not { } spte || spte == old)
                    {
                        continue;
                    }

                    if (spte == Masks.NonPresentValue)
                    {
                        DropSpte(sp, index);
                    }
                    else
                    {
                        MmuSpteUpdate(sp, index, spte);
                    }

                    changed = true;
                    flush |= policy.Flush == FlushPolicy.OnChange;
                    gfns?.Add(sp.GetGfn(index));
                    Record(policy, sp.GetGfn(index));
                }
            }
        }

        return EndWalk(policy, KernelName(policy.Operation), policy.Operation == MmuOperation.AgeGfnRange ? "cleared A" : DescribeChange(policy), gfns, changed, flush);
    }

    /// <summary>The mmu.c rmap function that runs an operation, as the log names it.</summary>
    private static string KernelName(MmuOperation operation) => operation switch
    {
        MmuOperation.ZapLeafs => "kvm_zap_rmap",
        MmuOperation.AgeGfnRange => "kvm_age_rmap",
        MmuOperation.WrprotGfnRange => "slot_rmap_write_protect",
        MmuOperation.RecoverHugePages => "kvm_rmap_zap_collapsible_sptes",
        MmuOperation.ClearDirtyPtMasked => "kvm_mmu_write_protect_pt_masked",
        MmuOperation.WriteProtectGfn => "rmap_write_protect",
        _ => operation.ToString(),
    };

    /// <summary>
    /// __kvm_rmap_zap_gfn_range() (kvm_zap_rmap): drop every leaf SPTE that maps [start, end),
    /// carrying the caller's pending flush (policy ZapLeafs). A shadow-paging VM has no private
    /// memory, so the caller's filter does not matter.
    /// </summary>
    public override bool UnmapGfnRange(ulong start, ulong end, UnmapCaller caller, MemoryAttribute? attribute, bool flush) =>
        WalkRmaps(Rules.ZapLeafs, start, end, GuestWalker.PteLevel, (_, _, _) => Masks.NonPresentValue, flush);

    /// <summary>
    /// kvm_age_rmap() / kvm_test_age_rmap(): a leaf that is Accessed is young; aging clears A
    /// (mark_spte_for_access_track: shadow paging always has A/D bits). Policy AgeGfnRange.
    /// </summary>
    public override bool AgeGfnRange(ulong start, ulong end, bool testOnly)
    {
        var young = false;
        WalkRmaps(Rules.AgeGfnRange, start, end, GuestWalker.PteLevel, (_, _, spte) =>
        {
            if (!Masks.IsAccessed(spte))
            {
                return null;
            }

            young = true;
            return testOnly ? null : Masks.MarkForAccessTrack(spte);
        });
        return young;
    }

    /// <summary>
    /// kvm_set_pte_rmap() (.change_pte() in the kernels that had it): every 4K SPTE of the GFN
    /// is dropped if the new host page is writable, else remade read-only and access-tracked for
    /// the new page (kvm_mmu_changed_pte_notifier_make_spte); then one flush (policy ChangePte).
    /// </summary>
    public override bool SetSpteGfn(ulong gfn, ulong newPfn, bool hostWritable)
    {
        var changed = false;
        foreach (var (sp, index) in Rmap(gfn).ToList())
        {
            var old = sp.Spt[index];
            DropSpte(sp, index);
            if (!hostWritable)
            {
                var spte = ((old & ~SpteValues.SPTE_BASE_ADDR_MASK) | (newPfn << 12)) & ~(SpteMasks.Writable | Masks.HostWritableMask | Masks.MmuWritableMask);
                sp.Spt[index] = Masks.MarkForAccessTrack(spte);
                RmapAdd(sp, index, gfn, sp.GetAccess(index));
            }

            changed = true;
            Record(Rules.ChangePte, gfn);
        }

        if (changed)
        {
            FlushRemoteTlbs($"{Rules.ChangePte.Name}: gfn 0x{gfn:x}");
        }

        return changed;
    }

    /// <summary>
    /// kvm_shadow_mmu_try_split_huge_pages() splits only huge SPTEs of nested (guest_mode) direct
    /// pages, which the model does not have: a shadow-paging VM's huge SPTEs are write-protected and
    /// split by the next write fault.
    /// </summary>
    protected override int TrySplitHugePages(KvmMemorySlot slot, ulong start, ulong end) => 0;

    /// <summary>slot_rmap_write_protect() (spte_write_protect, pt_protect = false): clear W, keep MMU-writable (policy WrprotGfnRange).</summary>
    protected override void SlotRemoveWriteAccess(KvmMemorySlot slot, int minLevel) =>
        WalkRmaps(Rules.WrprotGfnRange, slot.BaseGfn, slot.EndGfn, minLevel, (_, _, spte) => SpteMasks.IsWritable(spte) ? spte & ~SpteMasks.Writable : null);

    /// <summary>
    /// kvm_rmap_zap_collapsible_sptes() (kvm_mmu_recover_huge_pages without the TDP MMU): drop the
    /// 4K SPTEs of direct pages where the slot could map the guest's huge page huge again, so the
    /// next fault does (policy RecoverHugePages).
    /// </summary>
    protected override (int Recovered, bool FlushOwed) RecoverHugePages(KvmMemorySlot slot)
    {
        var zapped = 0;
        var flush = WalkRmaps(Rules.RecoverHugePages, slot.BaseGfn, slot.EndGfn, GuestWalker.PteLevel, (sp, index, _) =>
        {
            if (!sp.Role.Direct || sp.Role.Level >= MaxMappingLevel(slot, sp.GetGfn(index), GuestWalker.MaxHugePageLevel))
            {
                return null;
            }

            zapped++;
            return Masks.NonPresentValue;
        });
        return (zapped, flush);
    }

    /// <summary>
    /// kvm_mmu_write_protect_pt_masked()'s rmap half: for each page of the mask, its 4K rmap
    /// write-protected with rmap_write_protect(pt_protect = false): W cleared, MMU-writable kept,
    /// so the fast path may make it writable again (policy ClearDirtyPtMasked). Huge SPTEs were
    /// write-protected when logging started.
    /// </summary>
    protected override void WriteProtectPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask)
    {
        var policy = Rules.ClearDirtyPtMasked;
        var gfns = StartChanges();
        for (var bits = mask; bits != 0; bits &= bits - 1)
        {
            var page = gfn + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bits);
            foreach (var (sp, index) in RmapHead(page))
            {
                var spte = sp.Spt[index];
                if (SpteMasks.IsWritable(spte))
                {
                    MmuSpteUpdate(sp, index, spte & ~SpteMasks.Writable);
                    gfns?.Add(page);
                    Record(policy, page);
                }
            }
        }

        LogChanges(KernelName(policy.Operation), "cleared W", gfns);
    }

    /// <summary>
    /// rmap_write_protect(pt_protect = true) at every level from <paramref name="minLevel"/>:
    /// clear W and MMU-writable, so neither the fast path nor a stale SPTE lets the guest write a
    /// shadowed table or a write-tracked page (policy WriteProtectGfn). True if a flush is needed.
    /// </summary>
    public override bool SlotGfnWriteProtect(KvmMemorySlot slot, ulong gfn, int minLevel)
    {
        var flush = false;
        for (var level = minLevel; level <= GuestWalker.MaxHugePageLevel; level++)
        {
            foreach (var (sp, index) in Rmap(gfn, level).ToList())
            {
                var spte = sp.Spt[index];
                if (!SpteMasks.IsWritable(spte) && !Masks.IsMmuWritable(spte))
                {
                    continue;
                }

                flush |= MmuSpteUpdate(sp, index, spte & ~(SpteMasks.Writable | Masks.MmuWritableMask));
                Record(Rules.WriteProtectGfn, gfn);
                Kvm.Log.Add($"  write-protect gfn 0x{gfn:x}: {sp.Name}[{index}] now {Describe(sp.Spt[index])}");
            }
        }

        return flush;
    }

    /// <summary>
    /// kvm_mmu_zap_memslot(): drop the slot's leaf SPTEs through the rmaps, then zap the shadow
    /// pages of its frames (kvm_mmu_zap_memslot_pages_and_flush); returns whether a flush is owed.
    /// </summary>
    public override bool FlushShadowMemslot(KvmMemorySlot slot)
    {
        var flush = UnmapGfnRange(slot.BaseGfn, slot.EndGfn, UnmapCaller.MemslotZap, null, false);
        var invalid = new List<ShadowPage>();
        foreach (var sp in ActivePages.Where(sp => slot.Contains(sp.Gfn)).ToList())
        {
            PrepareZapPage(sp, invalid);
        }

        CommitZapPage(invalid);
        return flush;
    }

    /// <summary>
    /// kvm_mmu_zap_all_fast(): a new mmu_valid_gen makes every shadow page obsolete; vCPUs drop
    /// their roots (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS) and the obsolete pages are zapped
    /// (kvm_zap_obsolete_pages).
    /// </summary>
    public override void ZapAllFast()
    {
        var invalid = new List<ShadowPage>();
        foreach (var sp in ActivePages.ToList())
        {
            PrepareZapPage(sp, invalid);
        }

        CommitZapPage(invalid);
        FlushRemoteTlbs("kvm_mmu_zap_all_fast");
        Kvm.Log.Add("kvm_mmu_zap_all_fast: every shadow page is obsolete; vCPUs load new roots");
    }

    /// <summary>kvm_mmu_zap_all(): every shadow page zapped.</summary>
    public override bool ZapAll()
    {
        var any = ActivePages.Count > 0;
        var invalid = new List<ShadowPage>();
        foreach (var sp in ActivePages.ToList())
        {
            PrepareZapPage(sp, invalid);
        }

        CommitZapPage(invalid);
        return any;
    }

    /// <summary>The leaf a vCPU's TLB entry for guest virtual page <paramref name="tlbKey"/> was filled from: the walk from its root now.</summary>
    public override (ulong Spte, ulong Pfn)? CurrentTranslation(KvmVcpu vcpu, ulong tlbKey)
    {
        var (page, index, present) = HardwareWalk(vcpu, tlbKey << GuestWalker.PageShift);
        if (page is null || !present)
        {
            return null;
        }

        var spte = page.Spt[index];
        var offset = tlbKey & (GuestWalker.PagesPerHpage(page.Role.Level) - 1);
        return (spte, SpteMasks.ToPfn(spte) + offset);
    }

    /// <summary>Every present leaf of every valid shadow page: the frame it maps, its level and the SPTE.</summary>
    public override IEnumerable<(ulong Gfn, int Level, ulong Spte)> Leaves()
    {
        foreach (var sp in ActivePages)
        {
            for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
            {
                var spte = sp.Spt[i];
                if (SpteMasks.IsShadowPresent(spte) && SpteMasks.IsLast(spte, sp.Role.Level))
                {
                    yield return (sp.GetGfn(i), sp.Role.Level, spte);
                }
            }
        }
    }

    /// <summary>kvm_mmu_max_mapping_level() for a fault no bigger than the guest's page (<paramref name="maxLevel"/>).</summary>
    private int MaxMappingLevel(KvmMemorySlot slot, ulong gfn, int maxLevel) => Math.Min(maxLevel, base.MaxMappingLevel(slot, gfn));
}
