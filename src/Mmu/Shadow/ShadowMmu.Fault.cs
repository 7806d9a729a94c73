using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

/// <summary>struct kvm_page_fault, the parts the shadow MMU's fault path reads and fills.</summary>
internal sealed class ShadowFault(ulong addr, ulong errorCode)
{
    public ulong Addr { get; } = addr;

    public ulong ErrorCode { get; } = errorCode;

    public bool Present => (ErrorCode & PfErr.PFERR_PRESENT_MASK) != 0;

    public bool Write => (ErrorCode & PfErr.PFERR_WRITE_MASK) != 0;

    public bool User => (ErrorCode & PfErr.PFERR_USER_MASK) != 0;

    public bool Exec => (ErrorCode & PfErr.PFERR_FETCH_MASK) != 0;

    public ulong Gfn { get; set; }

    public ulong Pfn { get; set; }

    /// <summary>fault->slot: the memslot of <see cref="Gfn"/>, or null for MMIO.</summary>
    public KvmMemorySlot? Slot { get; set; }

    /// <summary>fault->map_writable: the host page may be mapped writable.</summary>
    public bool MapWritable { get; set; } = true;

    /// <summary>What KVM_RUN returns when the host has no page to give (-EFAULT).</summary>
    public string? Exit { get; set; }

    /// <summary>gw->prefetch_ptes: the aligned block of gPTEs around the leaf, read by FNAME(gpte_changed).</summary>
    public ulong[] PrefetchPtes { get; } = new ulong[ShadowMmu.PtePrefetchNum];
}

public sealed partial class ShadowMmu
{
    /// <summary>mmu_internal.h PTE_PREFETCH_NUM: the aligned block of SPTEs a fault prefetches around its own.</summary>
    public const int PtePrefetchNum = 8;

    /// <summary>Whether the last <see cref="PageFault"/> retried because an invalidation raced it (is_page_fault_stale).</summary>
    private bool LastFaultStale { get; set; }

    /// <summary>
    /// FNAME(page_fault) (paging_tmpl.h): the vCPU took a #PF on <paramref name="addr"/> that
    /// exited to KVM. Walk the guest's tables; if the guest's own rights forbid the access, the
    /// #PF is the guest's (kvm_inject_emulated_page_fault, RET_PF_RETRY). A write to a
    /// write-tracked gfn is RET_PF_WRITE_PROTECTED (page_fault_handle_page_track). A supervisor
    /// write to a read-only page under CR0.WP=0 maps the page writable and supervisor-only, and
    /// not executable under SMEP (mmu.rst "Emulating cr0.wp"). Then kvm_faultin_pfn(): a GFN no
    /// memslot holds is MMIO, a write to a read-only slot is emulated, and a host page that
    /// cannot be had fails KVM_RUN with -EFAULT. Then FNAME(fetch).
    /// </summary>
    public PageFaultResult PageFault(KvmVcpu vcpu, ulong addr, ulong errorCode, out string? exit)
    {
        exit = null;
        LastFaultStale = false;
        var fault = new ShadowFault(addr, errorCode);
        if (!WalkAddr(vcpu, fault, out var walker))
        {
            InjectEmulatedPageFault(vcpu, addr, walker.ErrorCode);
            return PageFaultResult.Retry;
        }

        if (FaultInPfn(vcpu, fault, walker, out var mmuSeq) is { } early)
        {
            exit = fault.Exit;
            return early;
        }

        while (Kvm.BeforeFaultTakesLock.TryDequeue(out var race))
        {
            race();
        }

        return PageFaultLocked(vcpu, fault, walker, mmuSeq);
    }

    /// <summary>
    /// FNAME(walk_addr) for the fault, without mmu_lock (it reads guest memory only): false when
    /// the guest's own tables or rights forbid the access, and the #PF is the guest's.
    /// </summary>
    private bool WalkAddr(KvmVcpu vcpu, ShadowFault fault, out GuestWalk walker)
    {
        var access = fault.ErrorCode & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK | PfErr.PFERR_FETCH_MASK);
        if (!GuestWalker.Walk(Kvm.GuestMemory, vcpu.Mmu, fault.Addr, access, out walker))
        {
            Kvm.Log.Add($"  FNAME(walk_addr) faults with {PfErrorCode.Describe(walker.ErrorCode)}: the #PF is the guest's");
            return false;
        }

        fault.Gfn = walker.Gfn;
        Kvm.Log.Add($"  FNAME(walk_addr): gfn 0x{walker.Gfn:x}, pte_access {KvmMmuPageRole.DescribeAccess(walker.PteAccess)}");
        return true;
    }

    /// <summary>
    /// FNAME(page_fault) between FNAME(walk_addr) and write_lock(mmu_lock): the write-tracked
    /// check, then kvm_mmu_faultin_pfn(), which samples mmu_invalidate_seq before it looks up the
    /// PFN. Null to go on to <see cref="PageFaultLocked"/>, else the fault's result (with
    /// <see cref="ShadowFault.Exit"/> set when KVM_RUN fails).
    /// </summary>
    private PageFaultResult? FaultInPfn(KvmVcpu vcpu, ShadowFault fault, GuestWalk walker, out ulong mmuSeq)
    {
        // kvm_mmu_faultin_pfn(): "fault->mmu_seq = vcpu->kvm->mmu_invalidate_seq; smp_rmb();" before the PFN.
        mmuSeq = Kvm.MmuInvalidateSeq;
        if (fault.Present && fault.Write && IsWriteTracked(fault.Gfn))
        {
            // shadow_page_table_clear_flood(): the vCPU is using the pages on this path.
            foreach (var sp in ShadowPath(vcpu, fault.Addr))
            {
                sp.WriteFloodingCount = 0;
            }

            Kvm.Log.Add($"  gfn 0x{fault.Gfn:x} is write-tracked: RET_PF_WRITE_PROTECTED");
            return PageFaultResult.WriteProtected;
        }

        fault.Slot = Kvm.FindSlot(fault.Gfn);
        if (fault.Slot is not { } slot)
        {
            return null;
        }

        if (fault.Write && slot.ReadOnly)
        {
            // __kvm_faultin_pfn(): KVM_PFN_ERR_RO_FAULT, and kvm_handle_error_pfn() emulates it.
            Kvm.Log.Add($"  gfn 0x{fault.Gfn:x} is in a read-only memslot: RET_PF_EMULATE");
            return PageFaultResult.Emulate;
        }

        if (Kvm.FaultInPfn(slot, fault.Gfn, fault.Write) is not { } host)
        {
            Kvm.Log.Add($"  gfn 0x{fault.Gfn:x}: no host page for the access, KVM_RUN returns -EFAULT (KVM_EXIT_MEMORY_FAULT)");
            fault.Exit = "-EFAULT";
            return PageFaultResult.Emulate;
        }

        fault.Pfn = host.Pfn;
        fault.MapWritable = host.Writable;
        return null;
    }

    /// <summary>
    /// FNAME(page_fault) under write_lock(mmu_lock): a fault an invalidation raced is dropped
    /// (is_page_fault_stale -> mmu_invalidate_retry_gfn, as the TDP MMU's fault does); a
    /// supervisor write to a read-only page under CR0.WP=0 maps it writable and supervisor-only,
    /// not executable under SMEP (mmu.rst "Emulating cr0.wp"); then FNAME(fetch).
    /// </summary>
    private PageFaultResult PageFaultLocked(KvmVcpu vcpu, ShadowFault fault, GuestWalk walker, ulong mmuSeq)
    {
        if (fault.Slot is not null && Kvm.MmuInvalidateRetryGfn(mmuSeq, fault.Gfn))
        {
            Kvm.Log.Add($"  gfn 0x{fault.Gfn:x}: an invalidation raced the fault (is_page_fault_stale), RET_PF_RETRY");
            LastFaultStale = true;
            return PageFaultResult.Retry;
        }

        var pteAccess = walker.PteAccess;
        if (fault.Write && (pteAccess & Acc.ACC_WRITE_MASK) == 0 && !vcpu.Cpu.Cr0Wp && !fault.User)
        {
            pteAccess = (pteAccess | (uint)Acc.ACC_WRITE_MASK) & ~(uint)Acc.ACC_USER_MASK;
            if (vcpu.Cpu.Cr4Smep)
            {
                pteAccess &= ~(uint)Acc.ACC_EXEC_MASK;
            }

            Kvm.Log.Add($"  CR0.WP=0 supervisor write: mapped as a kernel page, pte_access {KvmMmuPageRole.DescribeAccess(pteAccess)}");
        }

        return Fetch(vcpu, fault, walker, pteAccess);
    }

    /// <summary>
    /// FNAME(fetch): walk the shadow tables down to the guest's leaf level, making a shadow page
    /// for each guest table on the way (kvm_mmu_get_child_sp with the access the levels above
    /// grant, gw->pt_access) and checking that the gPTE above it has not changed under the walk
    /// (FNAME(gpte_changed)); below a guest huge page, direct pages down to the goal level; then
    /// mmu_set_spte() for the leaf and FNAME(pte_prefetch) around it.
    /// </summary>
    private PageFaultResult Fetch(KvmVcpu vcpu, ShadowFault fault, GuestWalk walker, uint pteAccess)
    {
        var directAccess = pteAccess;
        if (GpteChanged(walker, fault, vcpu.Cpu.RootLevel))
        {
            return PageFaultResult.Retry;
        }

        var gfnOfAddr = fault.Addr >> GuestWalker.PageShift;
        var sp = vcpu.ShadowMmu!.Root ?? throw new InvalidOperationException($"vCPU {vcpu.Id} has no root");
        var level = sp.Role.Level;
        int index;
        while (true)
        {
            index = GuestWalker.SpteIndex(gfnOfAddr, level);
            sp.WriteFloodingCount = 0;
            if (level == walker.Level)
            {
                break;
            }

            var tableGfn = walker.TableGfn(level - 1);
            var child = GetChildSp(vcpu, sp, index, tableGfn, direct: false, walker.PtAccess(level - 1));

            // "Synchronize the new page before linking it": an upper-level page found with unsync
            // children is synced here; a 4K one was synced by kvm_mmu_find_shadow_page().
            if (child is { UnsyncChildren: > 0 })
            {
                MmuSyncChildren(vcpu, child);
            }

            if (GpteChanged(walker, fault, level - 1))
            {
                return PageFaultResult.Retry;
            }

            if (child is not null)
            {
                LinkShadowPage(sp, index, child);
            }

            sp = ChildOf(sp.Spt[index]);
            level--;
        }

        // kvm_mmu_hugepage_adjust(), "_after_ resolving indirect shadow pages": no bigger than
        // the guest's page (fault->max_level = walker.level), nor than the host and the memslot
        // allow (a shadowed guest table in it forbids it); 4K for MMIO and, under the NX huge page
        // mitigation, for a fetch.
        var goalLevel = fault.Slot is { } mapped && !(fault.Exec && Kvm.NxHugePages)
            ? MaxMappingLevel(mapped, fault.Gfn, walker.Level)
            : GuestWalker.PteLevel;
        fault.Pfn &= ~(GuestWalker.PagesPerHpage(goalLevel) - 1);
        for (; level > goalLevel; level--)
        {
            var baseGfn = GuestWalker.GfnRoundForLevel(fault.Gfn, level);
            var child = GetChildSp(vcpu, sp, index, baseGfn, direct: true, directAccess);
            if (child is not null)
            {
                LinkShadowPage(sp, index, child);
            }

            sp = ChildOf(sp.Spt[index]);
            index = GuestWalker.SpteIndex(gfnOfAddr, level - 1);
        }

        var ret = MmuSetSpte(sp, index, pteAccess, GuestWalker.GfnRoundForLevel(fault.Gfn, level), fault.Pfn, fault);
        Kvm.Log.Add($"  mmu_set_spte {sp.Name}[{index}]: {Describe(sp.Spt[index])}, RET_PF_{Upper(ret)}");
        if (ret == PageFaultResult.Spurious)
        {
            return ret;
        }

        PtePrefetch(vcpu, fault, sp, index);
        return ret;
    }

    /// <summary>
    /// FNAME(gpte_changed): reread the gPTE the walk used at <paramref name="level"/> (at 4K, the
    /// whole prefetch block) and compare.
    /// </summary>
    private bool GpteChanged(GuestWalk walker, ShadowFault fault, int level)
    {
        ulong current;
        var pteGpa = walker.PteGpa(level);
        if (level == GuestWalker.PteLevel)
        {
            const ulong mask = (PtePrefetchNum * sizeof(ulong)) - 1;
            var baseGpa = pteGpa & ~mask;
            for (var i = 0; i < PtePrefetchNum; i++)
            {
                fault.PrefetchPtes[i] = Kvm.GuestMemory.TryReadPte(baseGpa + ((ulong)i * sizeof(ulong)), out var pte) ? pte : 0;
            }

            current = fault.PrefetchPtes[(int)((pteGpa - baseGpa) / sizeof(ulong))];
        }
        else if (!Kvm.GuestMemory.TryReadPte(pteGpa, out current))
        {
            return true;
        }

        var changed = current != walker.Pte(level);
        if (changed)
        {
            Kvm.Log.Add($"  FNAME(gpte_changed) at level {level}: RET_PF_RETRY");
        }

        return changed;
    }

    /// <summary>
    /// mmu_set_spte(): install the leaf SPTE. A GFN no memslot holds gets an MMIO SPTE
    /// (mark_mmio_spte, RET_PF_EMULATE). A present SPTE for another pfn is dropped first (flush);
    /// one for the same pfn is rebuilt in place and keeps its rmap entry, with the shadowed access
    /// updated (a prefetch of it is spurious). A write that make_spte() had to leave read-only (the
    /// gfn is a shadowed guest table that cannot be unsync) is RET_PF_WRITE_PROTECTED. A null
    /// <paramref name="fault"/> is a prefetch: prefetch=true and a writable host page.
    /// </summary>
    private PageFaultResult MmuSetSpte(ShadowPage sp, int index, uint pteAccess, ulong gfn, ulong pfn, ShadowFault? fault)
    {
        var level = sp.Role.Level;
        var hostWritable = fault is null || fault.MapWritable;
        var prefetch = fault is null;
        var writeFault = fault is { Write: true };
        var flush = false;
        var wasRmapped = false;
        var old = sp.Spt[index];
        var slot = Kvm.FindSlot(gfn);
        if (slot is null)
        {
            MarkMmioSpte(sp, index, gfn, pteAccess);
            return PageFaultResult.Emulate;
        }

        if (SpteMasks.IsShadowPresent(old))
        {
            if (prefetch && SpteMasks.IsLast(old, level) && pfn == SpteMasks.ToPfn(old))
            {
                return PageFaultResult.Spurious;
            }

            if (level > GuestWalker.PteLevel && !SpteMasks.IsLast(old, level))
            {
                DropParentPte(ChildOf(old), sp, index);
                flush = true;
            }
            else if (pfn != SpteMasks.ToPfn(old))
            {
                DropSpte(sp, index);
                flush = true;
            }
            else
            {
                wasRmapped = true;
            }
        }

        var (spte, wrprot) = MakeSpte(sp, slot, pteAccess, gfn, pfn, sp.Spt[index], prefetch, synchronizing: false, hostWritable);
        var ret = PageFaultResult.Fixed;
        if (sp.Spt[index] == spte)
        {
            ret = PageFaultResult.Spurious;
        }
        else
        {
            flush |= MmuSpteUpdate(sp, index, spte);
        }

        if (wrprot && writeFault)
        {
            ret = PageFaultResult.WriteProtected;
        }

        if (flush)
        {
            FlushRemoteTlbs($"mmu_set_spte: kvm_flush_remote_tlbs_gfn 0x{gfn:x}");
        }

        if (!wasRmapped)
        {
            RmapAdd(sp, index, gfn, pteAccess);
        }
        else
        {
            sp.SetAccess(index, pteAccess);
        }

        return ret;
    }

    /// <summary>mark_mmio_spte(): the access is MMIO; cache it, tagged with the memslot generation, so the next one is emulated at once.</summary>
    private void MarkMmioSpte(ShadowPage sp, int index, ulong gfn, uint access)
    {
        if (SpteMasks.IsShadowPresent(sp.Spt[index]))
        {
            MmuPageZapPte(sp, index);
        }

        sp.Spt[index] = Masks.MakeMmio(gfn, access, Kvm.MemslotGeneration);
        Kvm.Log.Add($"  mark_mmio_spte {sp.Name}[{index}]: gfn 0x{gfn:x} has no memslot");
    }

    /// <summary>make_spte() for one SPTE of <paramref name="sp"/>: at its level, with A/D bits (shadow paging always has them).</summary>
    internal (ulong Spte, bool Wrprot) MakeSpte(ShadowPage sp, KvmMemorySlot slot, uint pteAccess, ulong gfn, ulong pfn, ulong oldSpte, bool prefetch, bool synchronizing, bool hostWritable) =>
        MakeSpte(sp.Role.Level, sp.Role.AdDisabled, slot, pteAccess, gfn, pfn, oldSpte, prefetch, synchronizing, hostWritable);

    /// <summary>
    /// mmu_try_to_unsync_pages() inside make_spte(): a writable SPTE needs every page that
    /// shadows its gfn unsync; where one cannot be (write-tracked, synchronizing, a prefetch), the
    /// SPTE stays read-only.
    /// </summary>
    protected override bool MmuTryToUnsyncPages(KvmMemorySlot slot, ulong gfn, bool synchronizing, bool prefetch)
    {
        var unsync = MmuTryToUnsyncPages(gfn, synchronizing, prefetch);
        if (unsync != UnsyncResult.Unsynced && !prefetch)
        {
            Kvm.Log.Add($"  make_spte: gfn 0x{gfn:x} stays read-only (mmu_try_to_unsync_pages: {unsync})");
        }

        return unsync != UnsyncResult.Unsynced;
    }

    /// <summary>
    /// FNAME(pte_prefetch): map the other SPTEs of the aligned block of
    /// <see cref="PtePrefetchNum"/> around the faulting one, from the gPTEs FNAME(gpte_changed)
    /// read, until one cannot be (FNAME(prefetch_gpte)); a direct page prefetches its own
    /// frames (__direct_pte_prefetch). Only 4K pages prefetch. Prefetched SPTEs are made with
    /// prefetch=true, so they are not Accessed. Nothing is prefetched while an invalidation is in
    /// progress ("if (unlikely(vcpu->kvm->mmu_invalidate_in_progress)) return;"): the fault
    /// checked mmu_invalidate_retry_gfn for its own gfn only, and a neighbour may be one the
    /// invalidation has already zapped.
    /// </summary>
    private void PtePrefetch(KvmVcpu vcpu, ShadowFault fault, ShadowPage sp, int index)
    {
        if (sp.Role.Level > GuestWalker.PteLevel || Kvm.MmuInvalidateInProgress > 0)
        {
            return;
        }

        var first = index & ~(PtePrefetchNum - 1);
        for (var i = 0; i < PtePrefetchNum; i++)
        {
            var entry = first + i;
            if (entry == index || SpteMasks.IsShadowPresent(sp.Spt[entry]))
            {
                continue;
            }

            if (sp.Role.Direct)
            {
                if (!PrefetchPage(sp, entry, sp.Role.Access, sp.GetGfn(entry)))
                {
                    return;
                }
            }
            else if (!PrefetchGpte(vcpu, sp, entry, fault.PrefetchPtes[i]))
            {
                return;
            }

            Kvm.Log.Add($"  prefetch {sp.Name}[{entry}]: {Describe(sp.Spt[entry])}");
        }
    }

    /// <summary>
    /// FNAME(prefetch_gpte): only a valid gPTE (FNAME(prefetch_invalid_gpte)) in a memslot is
    /// prefetched, with sp->role.access &amp; its rights, less W while it is clean
    /// (kvm_mmu_prefetch_sptes -> mmu_set_spte with no fault).
    /// </summary>
    private bool PrefetchGpte(KvmVcpu vcpu, ShadowPage sp, int index, ulong gpte)
    {
        if (PrefetchInvalidGpte(vcpu, gpte))
        {
            return false;
        }

        var gfn = GuestWalker.GpteToGfn(gpte);
        var pteAccess = GuestWalker.ProtectCleanGpte(sp.Role.Access & GuestWalker.GpteAccess(gpte), gpte);
        return PrefetchPage(sp, index, pteAccess, gfn);
    }

    /// <summary>
    /// kvm_mmu_prefetch_sptes() for one page: only from a memslot, and not a writable mapping into a
    /// dirty-logged or read-only one (gfn_to_memslot_dirty_bitmap: "no_dirty_log"); then
    /// mmu_set_spte() with no fault (prefetch=true).
    /// </summary>
    private bool PrefetchPage(ShadowPage sp, int index, uint pteAccess, ulong gfn)
    {
        var write = (pteAccess & Acc.ACC_WRITE_MASK) != 0;
        if (Kvm.FindSlot(gfn) is not { } slot || (write && (slot.DirtyTracked || slot.ReadOnly)) || Kvm.FaultInPfn(slot, gfn, write: false) is not { } host)
        {
            return false;
        }

        MmuSetSpte(sp, index, pteAccess, gfn, host.Pfn, fault: null);
        return true;
    }

    /// <summary>
    /// kvm_mmu_track_write() (page_track.c's kvm_page_track_write for the shadow MMU): KVM
    /// emulated a guest write of a gPTE at <paramref name="gpa"/> in a write-tracked table. Each
    /// page shadowing it drops the SPTE that shadowed that gPTE (mmu_page_zap_pte), unless the
    /// guest keeps writing the same upper-level table without walking it (detect_write_flooding:
    /// three emulated writes), which zaps the whole page: the gfn is then no longer shadowed
    /// nor write-tracked, and the guest writes it directly.
    /// </summary>
    public override void TrackWrite(KvmVcpu vcpu, ulong gpa)
    {
        if (IndirectShadowPages == 0)
        {
            return;
        }

        var gfn = gpa >> GuestWalker.PageShift;
        var index = (int)((gpa & ((1UL << GuestWalker.PageShift) - 1)) / sizeof(ulong));
        var invalid = new List<ShadowPage>();
        var flush = false;
        foreach (var sp in PagesWithGptes(gfn))
        {
            // detect_write_flooding(): a 4K page can become unsync instead, so it never floods.
            if (sp.Role.Level > GuestWalker.PteLevel && ++sp.WriteFloodingCount >= 3)
            {
                Kvm.Log.Add($"  kvm_mmu_track_write: {sp.Name} flooded (3 emulated writes), zapped");
                PrepareZapPage(sp, invalid);
                continue;
            }

            var present = SpteMasks.IsShadowPresent(sp.Spt[index]);
            MmuPageZapPte(sp, index);
            Kvm.Log.Add($"  kvm_mmu_track_write: {sp.Name}[{index}] {(present ? "zapped" : "was not present")}");
            flush |= present;
        }

        if (invalid.Count > 0)
        {
            CommitZapPage(invalid);
        }
        else if (flush)
        {
            FlushRemoteTlbs("kvm_mmu_track_write");
        }
    }

    /// <summary>The shadow pages a walk for <paramref name="addr"/> passes through from the vCPU's root.</summary>
    private IEnumerable<ShadowPage> ShadowPath(KvmVcpu vcpu, ulong addr)
    {
        var sp = vcpu.ShadowMmu!.Root;
        while (sp is not null)
        {
            yield return sp;
            var spte = sp.Spt[GuestWalker.SpteIndex(addr >> GuestWalker.PageShift, sp.Role.Level)];
            sp = SpteMasks.IsShadowPresent(spte) && !SpteMasks.IsLast(spte, sp.Role.Level) ? ChildOf(spte) : null;
        }
    }

    internal static string Upper(PageFaultResult result) => result switch
    {
        PageFaultResult.WriteProtected => "WRITE_PROTECTED",
        _ => result.ToString().ToUpperInvariant(),
    };
}
