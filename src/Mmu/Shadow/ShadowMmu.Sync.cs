using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

public sealed partial class ShadowMmu
{
    /// <summary>
    /// FNAME(sync_spte) (paging_tmpl.h): bring SPTE <paramref name="index"/> of the unsync page
    /// <paramref name="sp"/> in line with the gPTE it shadows, as the model's SyncSpte policy
    /// says for each kind of change (<see cref="Sync"/>). The kinds are told apart in the
    /// kernel's order: an invalid gPTE (FNAME(prefetch_invalid_gpte)), another frame, then the
    /// access it now grants (sp->role.access &amp; FNAME(gpte_access), less W while the gPTE is
    /// not Dirty: FNAME(protect_clean_gpte)) against the shadowed access. A rebuild is
    /// kvm_mmu_page_set_access() and make_spte(prefetch=true, synchronizing=true) on the same
    /// pfn with the old SPTE's host-writable bit. An MMIO SPTE is brought in line by
    /// sync_mmio_spte() instead: dropped if the gPTE now names another frame, else remade with the
    /// new access. Returns -1 when the gPTE cannot be read (kvm_vcpu_read_guest_atomic fails), 0
    /// when no flush is needed, 1 when one is.
    /// </summary>
    internal int SyncSpte(KvmVcpu vcpu, ShadowPage sp, int index)
    {
        KvmWarn.On(sp.Spt[index] == Masks.NonPresentValue || sp.Role.Direct, $"sync_spte on {sp.Name}[{index}], which holds 0x{sp.Spt[index]:x16}");
        var gpteGpa = (sp.Gfn << GuestWalker.PageShift) + ((ulong)index * sizeof(ulong));
        if (!Kvm.GuestMemory.TryReadPte(gpteGpa, out var gpte))
        {
            Kvm.Log.Add($"  sync_spte {sp.Name}[{index}]: the gPTE at gpa 0x{gpteGpa:x} cannot be read");
            return -1;
        }

        var old = sp.Spt[index];
        var what = $"  sync_spte {sp.Name}[{index}], gPTE {DescribeGpte(gpte)}";
        if (PrefetchInvalidGpte(vcpu, gpte))
        {
            return Apply(GpteChange.InvalidGpte, Sync.InvalidGpte, gfn: 0, pteAccess: 0);
        }

        var gfn = GuestWalker.GpteToGfn(gpte);
        var pteAccess = GuestWalker.ProtectCleanGpte(sp.Role.Access & GuestWalker.GpteAccess(gpte), gpte);
        if (SyncMmioSpte(sp, index, gfn, pteAccess))
        {
            return 0;
        }

        if (gfn != sp.GetGfn(index))
        {
            return Apply(GpteChange.GfnChanged, Sync.GfnChanged, gfn, pteAccess);
        }

        var change = SyncSptePolicy.Classify(sp.GetAccess(index), pteAccess);
        return Apply(change, Sync.For(change), gfn, pteAccess);

        // The spec's keys InvalidGpte and GfnChanged take Drop or Keep only (SPEC018): there is
        // no gPTE, or no pfn for the new frame, to rebuild from.
        int Apply(GpteChange change, SyncAction action, ulong gfn, uint pteAccess)
        {
            var access = $"{KvmMmuPageRole.DescribeAccess(sp.GetAccess(index))}";
            switch (action)
            {
                case SyncAction.Keep:
                    Kvm.Log.Add($"{what}: {change} (shadowed {access}), Keep: SPTE stays {Describe(old)}");
                    return 0;
                case SyncAction.Drop:
                    DropSpte(sp, index);
                    Kvm.Log.Add($"{what}: {change} (shadowed {access}), Drop");
                    return 1;
            }

            KvmWarn.On(change is GpteChange.InvalidGpte or GpteChange.GfnChanged, $"sync_spte cannot rebuild {sp.Name}[{index}] for {change}");
            sp.SetAccess(index, pteAccess);
            var slot = Kvm.FindSlot(gfn) ?? throw new KvmWarnException($"sync_spte: {sp.Name}[{index}] maps gfn 0x{gfn:x}, which no memslot holds");
            var (spte, _) = MakeSpte(sp, slot, pteAccess, gfn, SpteMasks.ToPfn(old), old, prefetch: true, synchronizing: true, hostWritable: Masks.IsHostWritable(old));
            if (!Sync.RebuildAccessed)
            {
                // make_spte() before v6.13 access-tracked every prefetched SPTE, a synced one too.
                spte = Masks.MarkForAccessTrack(spte);
            }

            var flush = MmuSpteUpdate(sp, index, spte);
            Kvm.Log.Add($"{what}: {change} ({access} -> {KvmMmuPageRole.DescribeAccess(pteAccess)}), Rebuild: SPTE {Describe(spte)}{(flush ? ", flush needed" : "")}");
            return flush ? 1 : 0;
        }
    }

    /// <summary>
    /// FNAME(prefetch_invalid_gpte): a gPTE that is not present, not Accessed ("Prefetch only
    /// accessed entries", as the guest has A/D bits) or has reserved bits set is not mapped.
    /// </summary>
    private static bool PrefetchInvalidGpte(KvmVcpu vcpu, ulong gpte) =>
        !GuestWalker.IsPresentGpte(gpte)
        || (gpte & GuestPte4K.AccessedMask) == 0
        || vcpu.Mmu.IsRsvdBitsSet(gpte, GuestWalker.PteLevel);

    /// <summary>
    /// sync_mmio_spte(): an MMIO SPTE is dropped if the gPTE names another frame (the next access
    /// faults) or remade for the new access; either way there is nothing to flush.
    /// </summary>
    private bool SyncMmioSpte(ShadowPage sp, int index, ulong gfn, uint access)
    {
        var spte = sp.Spt[index];
        if (!Masks.IsMmio(spte))
        {
            return false;
        }

        if (gfn != Masks.MmioGfn(spte))
        {
            sp.Spt[index] = Masks.NonPresentValue;
            Kvm.Log.Add($"  sync_mmio_spte {sp.Name}[{index}]: the gPTE names gfn 0x{gfn:x} now, MMIO SPTE dropped");
            return true;
        }

        sp.Spt[index] = Masks.MakeMmio(gfn, access, Kvm.MemslotGeneration);
        Kvm.Log.Add($"  sync_mmio_spte {sp.Name}[{index}]: MMIO SPTE for gfn 0x{gfn:x} remade");
        return true;
    }

    /// <summary>kvm_sync_spte(): an SPTE never made has nothing to sync.</summary>
    private int KvmSyncSpte(KvmVcpu vcpu, ShadowPage sp, int index) =>
        sp.Spt[index] == Masks.NonPresentValue ? 0 : SyncSpte(vcpu, sp, index);

    /// <summary>
    /// kvm_sync_page(): every SPTE of the page through FNAME(sync_spte) (__kvm_sync_page); &gt;0
    /// when a flush is owed. A gPTE that cannot be read makes the result negative ("flush |= ret"
    /// with ret = -1), and the whole page is zapped. "The guest is responsible for flushing the TLB
    /// to ensure any changes in protection bits are recognized"; the flush is for KVM's own
    /// correctness.
    /// </summary>
    private int KvmSyncPage(KvmVcpu vcpu, ShadowPage sp, List<ShadowPage> invalid)
    {
        // kvm_sync_page_check(): a page is only synced under the MMU role it was made for.
        KvmWarn.On(!sp.Role.SyncableUnder(KvmMmuPageRole.ForRoot(vcpu.Cpu)), $"kvm_sync_page: {sp} under root role {KvmMmuPageRole.ForRoot(vcpu.Cpu)}");
        Kvm.Log.Add($"  kvm_sync_page {sp.Name}");
        var flush = 0;
        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            flush |= KvmSyncSpte(vcpu, sp, i);
        }

        if (flush < 0)
        {
            Kvm.Log.Add($"  kvm_sync_page: a gPTE of {sp.Name} cannot be read, the page is zapped");
            PrepareZapPage(sp, invalid);
        }

        return flush;
    }

    /// <summary>
    /// mmu_sync_children(): sync every unsync page below <paramref name="parent"/>: first
    /// write-protect their gfns again (kvm_vcpu_write_protect_gfn, flushing if that changed an
    /// SPTE), then mark each in sync (kvm_unlink_unsync_page) and sync it (kvm_sync_page).
    /// </summary>
    internal void MmuSyncChildren(KvmVcpu vcpu, ShadowPage parent)
    {
        var invalid = new List<ShadowPage>();
        var flush = false;
        var pages = new List<ShadowPage>();
        MmuUnsyncWalk(parent, pages);
        if (pages.Count > 0)
        {
            var protect = false;
            foreach (var sp in pages)
            {
                protect |= WriteProtectGfn(sp.Gfn);
            }

            if (protect)
            {
                FlushRemoteTlbs("mmu_sync_children: unsync gfns write-protected again");
            }

            foreach (var sp in pages)
            {
                KvmUnlinkUnsyncPage(sp);
                flush |= KvmSyncPage(vcpu, sp, invalid) > 0;
            }

            ClearSyncedChildBits(parent);
        }

        if (invalid.Count > 0)
        {
            CommitZapPage(invalid);
        }
        else if (flush)
        {
            FlushRemoteTlbs("mmu_sync_children");
        }
    }

    /// <summary>__mmu_unsync_walk(): the unsync 4K pages the unsync_child_bitmaps lead to, each once; stale bits are cleared.</summary>
    private void MmuUnsyncWalk(ShadowPage sp, List<ShadowPage> pages)
    {
        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            if (!sp.UnsyncChildBitmap[i])
            {
                continue;
            }

            var spte = sp.Spt[i];
            if (!SpteMasks.IsShadowPresent(spte) || SpteMasks.IsLast(spte, sp.Role.Level))
            {
                ClearUnsyncChildBit(sp, i);
                continue;
            }

            var child = ChildOf(spte);
            if (child.UnsyncChildren > 0)
            {
                MmuUnsyncWalk(child, pages);
            }
            else if (child.Unsync)
            {
                if (!pages.Contains(child))
                {
                    pages.Add(child);
                }
            }
            else
            {
                ClearUnsyncChildBit(sp, i);
            }
        }
    }

    /// <summary>mmu_pages_clear_parents(): once a child is in sync, the bits that led to it go, level by level.</summary>
    private void ClearSyncedChildBits(ShadowPage sp)
    {
        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            if (!sp.UnsyncChildBitmap[i])
            {
                continue;
            }

            var spte = sp.Spt[i];
            if (!SpteMasks.IsShadowPresent(spte) || SpteMasks.IsLast(spte, sp.Role.Level))
            {
                ClearUnsyncChildBit(sp, i);
                continue;
            }

            var child = ChildOf(spte);
            if (child.UnsyncChildren > 0)
            {
                ClearSyncedChildBits(child);
            }

            if (!child.Unsync && child.UnsyncChildren == 0)
            {
                ClearUnsyncChildBit(sp, i);
            }
        }
    }

    /// <summary>clear_unsync_child_bit().</summary>
    private static void ClearUnsyncChildBit(ShadowPage sp, int index)
    {
        sp.UnsyncChildBitmap[index] = false;
        sp.UnsyncChildren--;
        KvmWarn.On(sp.UnsyncChildren < 0, $"{sp}: unsync_children went negative");
    }

    /// <summary>
    /// kvm_mmu_sync_roots(): a guest TLB flush or CR3 load syncs every unsync page under the
    /// root (is_unsync_root, then mmu_sync_children).
    /// </summary>
    internal void KvmMmuSyncRoots(KvmVcpu vcpu)
    {
        if (vcpu.ShadowMmu!.Root is not { } root || !(root.Unsync || root.UnsyncChildren > 0))
        {
            return;
        }

        Kvm.Log.Add($"  kvm_mmu_sync_roots: root {root.Name}");
        MmuSyncChildren(vcpu, root);
    }

    /// <summary>
    /// __kvm_mmu_invalidate_addr() on the current root: walk the SPTEs for
    /// <paramref name="addr"/> while the pages on the way have unsync children, and sync the
    /// SPTE of every unsync page met (kvm_sync_spte), zapping it if the gPTE cannot be read
    /// and flushing if the sync asks. INVLPG and the #PF KVM injects both come here; the
    /// previous roots (KVM_MMU_ROOT_PREVIOUS) are not modelled.
    /// </summary>
    internal void InvalidateAddr(KvmVcpu vcpu, ulong addr)
    {
        if (vcpu.ShadowMmu!.Root is not { } sp)
        {
            return;
        }

        var gfnOfAddr = addr >> GuestWalker.PageShift;
        for (var level = sp.Role.Level; ; level--)
        {
            var index = GuestWalker.SpteIndex(gfnOfAddr, level);
            if (sp.Unsync)
            {
                var ret = KvmSyncSpte(vcpu, sp, index);
                if (ret < 0)
                {
                    MmuPageZapPte(sp, index);
                }

                if (ret != 0)
                {
                    FlushRemoteTlbs("kvm_flush_remote_tlbs_sptep");
                }
            }

            var spte = sp.Spt[index];
            if (sp.UnsyncChildren == 0 || !SpteMasks.IsShadowPresent(spte) || SpteMasks.IsLast(spte, level))
            {
                return;
            }

            sp = ChildOf(spte);
        }
    }
}
