using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// A vCPU reads, writes or fetches from a guest frame. A TLB hit is used as the hardware would,
    /// even if the SPTE has since lost the permission: that is exactly the stale translation a
    /// missing flush allows, and the checker records it. A miss walks the SPTEs, setting A (and D
    /// on a write), and an EPT violation goes to the fast path, then kvm_tdp_page_fault. Returns
    /// the host page the access went to, or null when it exited to userspace, was emulated or
    /// waits for an invalidation.
    /// </summary>
    public ulong? Access(KvmVcpu vcpu, ulong gfn, AccessKind access)
    {
        if (vcpu.Paused)
        {
            throw new InvalidOperationException($"vCPU {vcpu.Id} is paused: a paused vCPU runs no guest code");
        }

        var outer = RunningVcpu;
        RunningVcpu = vcpu;
        try
        {
            return AccessAsRunning(vcpu, gfn, access);
        }
        finally
        {
            RunningVcpu = outer;
        }
    }

    private ulong? AccessAsRunning(KvmVcpu vcpu, ulong gfn, AccessKind access)
    {
        var what = $"vCPU {vcpu.Id} {Verb(access)} gfn 0x{gfn:x}";

        // kvm_dirty_ring_check_request(): a soft-full ring exits to userspace before the guest
        // runs again, until userspace has collected and reset it.
        if (DirtyRing is not null && RingOf(vcpu).SoftFull)
        {
            Log.Add($"{what}: KVM_EXIT_DIRTY_RING_FULL ({RingOf(vcpu).Used} of {RingOf(vcpu).Size} entries used)");
            vcpu.LastExit = "KVM_EXIT_DIRTY_RING_FULL";
            return null;
        }

        vcpu.LastExit = null;
        var (root, slotGfn) = RootForFault(gfn);
        if (IsMirrored && root.IsMirror != IsPrivate(slotGfn))
        {
            // kvm_mmu_faultin_pfn(): the access disagrees with the GFN's attribute, so userspace
            // must convert it first (kvm_mmu_prepare_memory_fault_exit).
            Log.Add($"{what}: {(root.IsMirror ? "private" : "shared")} access to a {(IsPrivate(slotGfn) ? "private" : "shared")} gfn, KVM_EXIT_MEMORY_FAULT");
            vcpu.LastExit = "KVM_EXIT_MEMORY_FAULT";
            return null;
        }

        return Mmu.On(root, () => AccessOnRoot(vcpu, gfn, slotGfn, access, what));
    }

    /// <summary>
    /// The access on the root its GPA selects: <paramref name="tlbGfn"/> is what the vCPU's TLB
    /// caches (with a TDX VM's shared bit), <paramref name="gfn"/> the memslot's GFN.
    /// </summary>
    private ulong? AccessOnRoot(KvmVcpu vcpu, ulong tlbGfn, ulong gfn, AccessKind access, string what)
    {
        var write = access == AccessKind.Write;
        if (vcpu.Tlb.TryGetValue(tlbGfn, out var cached) && cached.Allows(access))
        {
            CheckTranslation(vcpu, gfn, cached, access);
            Log.Add($"{what}: TLB hit");
            RecordWrite(gfn, write);
            return cached.Pfn;
        }

        for (var attempt = 0; attempt < 4; attempt++)
        {
            if (Mmu.LeafFor(gfn) is { } leaf && MakeSpte.Allows(leaf.Spte, access))
            {
                Mmu.HardwareSetAccessedDirty(gfn, write);
                var pfn = TdpWalker.SpteToPfn(leaf.Spte) + (gfn & (TdpWalker.PagesPerHpage(leaf.Level) - 1));
                vcpu.Tlb[tlbGfn] = new TlbEntry(pfn, MakeSpte.IsWritable(leaf.Spte), MakeSpte.IsExecutable(leaf.Spte));
                RecordWrite(gfn, write);
                return pfn;
            }

            // An EPT misconfiguration on a cached MMIO SPTE: emulate at once if its memslot
            // generation is current, else drop it and take the slow path (handle_mmio_page_fault).
            if (Mmu.Entry4K(gfn) is { } entry && TdpMmu.IsMmioSpte(entry))
            {
                var generation = TdpMmu.MmioGeneration(entry);
                if (generation == MemslotGeneration)
                {
                    Log.Add($"{what}: MMIO SPTE (generation {generation}) hit, RET_PF_EMULATE");
                    return null;
                }

                Log.Add($"{what}: stale MMIO SPTE (generation {generation}, memslots now {MemslotGeneration}), slow path");
                Mmu.ZapMmioSpte(gfn);
            }

            var slot = FindSlot(gfn);
            if (write && slot is not null && slot.IsWriteTracked(gfn))
            {
                return EmulateTrackedWrite(vcpu, slot, gfn, what);
            }

            // No fast page fault on a mirror root: the S-EPT changes only through its hooks.
            var fast = Mmu.WalkRoot.IsMirror ? PageFaultResult.Invalid : Mmu.FastPageFault(gfn, access, slot);
            if (fast is PageFaultResult.Fixed)
            {
                Log.Add($"{what}: fast page fault, RET_PF_FIXED");
                continue;
            }

            var result = PageFault(vcpu, gfn, access);
            Log.Add($"{what}: page fault, RET_PF_{Upper(result)}");
            if (result is PageFaultResult.Emulate or PageFaultResult.WriteProtected)
            {
                return null;
            }

            if (result == PageFaultResult.Retry && MmuInvalidateInProgress > 0)
            {
                // The vCPU keeps re-faulting until the invalidation ends; the model runs the access then.
                Log.Add($"{what}: waits for the invalidation to end");
                _afterInvalidation.Enqueue(() => Access(vcpu, tlbGfn, access));
                return null;
            }
        }

        KvmWarn.On(true, $"{what}: still faulting after four attempts");
        return null;
    }

    /// <summary>A vCPU stores <paramref name="value"/> at <paramref name="gpa"/> (8-byte aligned), through whatever translation it has.</summary>
    public bool WriteGuest(KvmVcpu vcpu, ulong gpa, ulong value)
    {
        if (Access(vcpu, gpa >> TdpWalker.PageShift, AccessKind.Write) is not { } pfn)
        {
            return false;
        }

        Host.Write(pfn, WordIndex(gpa), value);
        return true;
    }

    /// <summary>A vCPU loads the 8 bytes at <paramref name="gpa"/>, or null when the access did not complete.</summary>
    public ulong? ReadGuest(KvmVcpu vcpu, ulong gpa) =>
        Access(vcpu, gpa >> TdpWalker.PageShift, AccessKind.Read) is { } pfn ? Host.Read(pfn, WordIndex(gpa)) : null;

    /// <summary>What userspace sees at <paramref name="gpa"/> through the memslot's host mapping.</summary>
    public ulong ReadHost(ulong gpa) =>
        Host.Lookup(gpa >> TdpWalker.PageShift) is { } pte ? Host.Read(pte.Pfn, WordIndex(gpa)) : 0;

    private static int WordIndex(ulong gpa)
    {
        if ((gpa & 7) != 0)
        {
            throw new ArgumentException($"gpa 0x{gpa:x} is not 8-byte aligned", nameof(gpa));
        }

        return (int)((gpa & 0xfff) >> 3);
    }

    private static string Verb(AccessKind access) => access switch
    {
        AccessKind.Write => "writes",
        AccessKind.Fetch => "fetches from",
        _ => "reads",
    };

    /// <summary>
    /// kvm_tdp_page_fault(): snapshot the invalidation sequence, resolve the host PFN, take
    /// mmu_lock, retry if an invalidation raced, pick the level, and map.
    /// </summary>
    public PageFaultResult PageFault(KvmVcpu vcpu, ulong gfn, AccessKind access)
    {
        var write = access == AccessKind.Write;
        var slot = FindSlot(gfn);
        if (slot is null)
        {
            // kvm_handle_noslot_fault(): MMIO, cached as an MMIO SPTE tagged with the memslot
            // generation (GFNs beyond the TDP MMU's reach are emulated without one).
            if (gfn < TdpWalker.MaxGfnExclusive(TdpMmu.RootLevel))
            {
                Mmu.MapMmio(gfn, MemslotGeneration);
            }

            AfterOperation("kvm_tdp_page_fault");
            return PageFaultResult.Emulate;
        }

        if (write && slot.Flags.HasFlag(MemslotFlags.ReadOnly))
        {
            return PageFaultResult.Emulate;
        }

        if (Mmu.WalkRoot.IsMirror)
        {
            return PrivatePageFault(gfn, access, slot);
        }

        var mmuSeq = MmuInvalidateSeq;
        if (write && Host.CopyOnWrite.Contains(gfn))
        {
            BreakCow(gfn);
        }

        if (Host.Lookup(gfn) is null && Host.Unmapped.Contains(gfn))
        {
            // hva_to_pfn() finds no VMA after munmap: KVM_RUN fails with -EFAULT.
            Log.Add($"vCPU {vcpu.Id} faults on gfn 0x{gfn:x}: no VMA behind the memslot, KVM_RUN returns -EFAULT");
            vcpu.LastExit = "-EFAULT";
            return PageFaultResult.Emulate;
        }

        var hostPte = Host.Lookup(gfn) ?? Host.FaultIn(gfn);
        while (BeforeFaultTakesLock.TryDequeue(out var race))
        {
            race();
        }

        if (MmuInvalidateRetryGfn(mmuSeq, gfn))
        {
            return PageFaultResult.Retry;
        }

        // kvm_mmu_hugepage_adjust(): a fetch under the NX huge page mitigation maps 4K, but
        // remembers the level it could have had (req_level) for NX recovery.
        var reqLevel = HugePageAdjust(slot, gfn);
        var hugePageDisallowed = access == AccessKind.Fetch && NxHugePages;
        var goalLevel = hugePageDisallowed ? 1 : reqLevel;
        var hostPfn = hostPte.Pfn & ~(TdpWalker.PagesPerHpage(goalLevel) - 1);
        var result = Mmu.Map(new TdpFault(gfn, hostPfn, reqLevel, goalLevel, access, hostPte.Writable, hugePageDisallowed, slot));
        AfterOperation("kvm_tdp_page_fault");
        return result;
    }

    /// <summary>
    /// The private half of kvm_tdp_page_fault() in a TDX VM: the page comes from guest_memfd
    /// (kvm_mmu_faultin_pfn_private), and the mirror root maps it at 4K only.
    /// </summary>
    private PageFaultResult PrivatePageFault(ulong gfn, AccessKind access, KvmMemorySlot slot)
    {
        var mmuSeq = MmuInvalidateSeq;
        var pfn = GmemGetPfn(gfn);
        while (BeforeFaultTakesLock.TryDequeue(out var race))
        {
            race();
        }

        if (MmuInvalidateRetryGfn(mmuSeq, gfn))
        {
            return PageFaultResult.Retry;
        }

        var result = Mmu.Map(new TdpFault(gfn, pfn, 1, 1, access, HostWritable: true, HugePageDisallowed: false, slot));
        AfterOperation("kvm_tdp_page_fault");
        return result;
    }

    /// <summary>
    /// kvm_mmu_max_mapping_level(): 4K in a dirty-tracked slot; otherwise the largest level the
    /// host maps whose huge page the memslot allows (lpage_info's disallow_lpage).
    /// </summary>
    private int HugePageAdjust(KvmMemorySlot slot, ulong gfn)
    {
        if (slot.DirtyTracked)
        {
            return 1;
        }

        var level = Math.Min(Host.MappingLevel(gfn), TdpWalker.MaxHugePageLevel);
        while (level > 1 && (slot.LpageDisallowed(gfn, level) || AttributesMixed(gfn, level)))
        {
            level--;
        }

        return level;
    }

    /// <summary>A TLB hit that grants more than the SPTE does now: a flush the MMU owed was not done.</summary>
    private void CheckTranslation(KvmVcpu vcpu, ulong gfn, TlbEntry cached, AccessKind access)
    {
        var leaf = Mmu.LeafFor(gfn);
        var current = leaf is { } l ? TdpWalker.SpteToPfn(l.Spte) + (gfn & (TdpWalker.PagesPerHpage(l.Level) - 1)) : (ulong?)null;
        if (current != cached.Pfn)
        {
            Violate("stale translation", $"vCPU {vcpu.Id} used a TLB entry for gfn 0x{gfn:x} -> host pfn 0x{cached.Pfn:x}, but the SPTE is {(current is null ? "not present" : $"host pfn 0x{current:x}")}");
        }
        else if (!MakeSpte.Allows(GrantedWithoutFlush(leaf!.Value.Spte), access))
        {
            Violate("stale translation", $"vCPU {vcpu.Id} {Verb(access)} gfn 0x{gfn:x} through a TLB entry that allows it, but the SPTE does not ({MakeSpte.Describe(leaf.Value.Spte)})");
        }
    }

    /// <summary>
    /// What a TLB entry may still grant without a flush being owed. Access tracking takes R, W and X
    /// away without a flush (clear_young never flushes, and leaf_spte_change_needs_tlb_flush() is
    /// false while MMU-writable stays), so an access-tracked SPTE counts as its restored self.
    /// </summary>
    private static ulong GrantedWithoutFlush(ulong spte) =>
        !MakeSpte.IsAccessTrack(spte) ? spte
        : MakeSpte.RestoreAccessTrack(spte) | (MakeSpte.IsMmuWritable(spte) ? EptSpte.WritableMask : 0);

    private static string Upper(PageFaultResult result) => result switch
    {
        PageFaultResult.WriteProtected => "WRITE_PROTECTED",
        _ => result.ToString().ToUpperInvariant(),
    };
}
