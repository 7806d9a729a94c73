using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// A vCPU reads or writes a guest frame. A TLB hit is used as the hardware would, even if the
    /// SPTE has since lost the permission: that is exactly the stale translation a missing flush
    /// allows, and the checker records it. A miss walks the SPTEs, setting A (and D on a write),
    /// and an EPT violation goes to the fast path, then kvm_tdp_page_fault.
    /// </summary>
    public void Access(KvmVcpu vcpu, ulong gfn, bool write)
    {
        if (vcpu.Paused)
        {
            throw new InvalidOperationException($"vCPU {vcpu.Id} is paused: a paused vCPU runs no guest code");
        }

        var outer = RunningVcpu;
        RunningVcpu = vcpu;
        try
        {
            AccessAsRunning(vcpu, gfn, write);
        }
        finally
        {
            RunningVcpu = outer;
        }
    }

    private void AccessAsRunning(KvmVcpu vcpu, ulong gfn, bool write)
    {
        var what = $"vCPU {vcpu.Id} {(write ? "writes" : "reads")} gfn 0x{gfn:x}";

        // kvm_dirty_ring_check_request(): a soft-full ring exits to userspace before the guest
        // runs again, until userspace has collected and reset it.
        if (DirtyRing is not null && RingOf(vcpu).SoftFull)
        {
            Log.Add($"{what}: KVM_EXIT_DIRTY_RING_FULL ({RingOf(vcpu).Used} of {RingOf(vcpu).Size} entries used)");
            vcpu.LastExit = "KVM_EXIT_DIRTY_RING_FULL";
            return;
        }

        vcpu.LastExit = null;
        if (vcpu.Tlb.TryGetValue(gfn, out var cached) && (!write || cached.Writable))
        {
            CheckTranslation(vcpu, gfn, cached, write);
            Log.Add($"{what}: TLB hit");
            RecordWrite(gfn, write);
            return;
        }

        for (var attempt = 0; attempt < 4; attempt++)
        {
            if (Mmu.LeafFor(gfn) is { } leaf && (!write || MakeSpte.IsWritable(leaf.Spte)))
            {
                Mmu.HardwareSetAccessedDirty(gfn, write);
                var pfn = TdpWalker.SpteToPfn(leaf.Spte) + (gfn & (TdpWalker.PagesPerHpage(leaf.Level) - 1));
                vcpu.Tlb[gfn] = new TlbEntry(pfn, MakeSpte.IsWritable(leaf.Spte));
                RecordWrite(gfn, write);
                return;
            }

            // An EPT misconfiguration on a cached MMIO SPTE: emulate at once if its memslot
            // generation is current, else drop it and take the slow path (handle_mmio_page_fault).
            if (Mmu.Entry4K(gfn) is { } entry && TdpMmu.IsMmioSpte(entry))
            {
                var generation = TdpMmu.MmioGeneration(entry);
                if (generation == MemslotGeneration)
                {
                    Log.Add($"{what}: MMIO SPTE (generation {generation}) hit, RET_PF_EMULATE");
                    return;
                }

                Log.Add($"{what}: stale MMIO SPTE (generation {generation}, memslots now {MemslotGeneration}), slow path");
                Mmu.ZapMmioSpte(gfn);
            }

            var slot = FindSlot(gfn);
            var fast = Mmu.FastPageFault(gfn, write, slot);
            if (fast is PageFaultResult.Fixed)
            {
                Log.Add($"{what}: fast page fault, RET_PF_FIXED");
                continue;
            }

            var result = PageFault(vcpu, gfn, write);
            Log.Add($"{what}: page fault, RET_PF_{Upper(result)}");
            if (result == PageFaultResult.Emulate)
            {
                return;
            }

            if (result == PageFaultResult.Retry && MmuInvalidateInProgress > 0)
            {
                // The vCPU keeps re-faulting until the invalidation ends; the model runs the access then.
                Log.Add($"{what}: waits for the invalidation to end");
                _afterInvalidation.Enqueue(() => Access(vcpu, gfn, write));
                return;
            }
        }

        KvmWarn.On(true, $"{what}: still faulting after four attempts");
    }

    /// <summary>
    /// kvm_tdp_page_fault(): snapshot the invalidation sequence, resolve the host PFN, take
    /// mmu_lock, retry if an invalidation raced, pick the level, and map.
    /// </summary>
    public PageFaultResult PageFault(KvmVcpu vcpu, ulong gfn, bool write)
    {
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

        var level = HugePageAdjust(slot, gfn);
        var pages = TdpWalker.PagesPerHpage(level);
        var hostPfn = hostPte.Pfn & ~(pages - 1);
        var result = Mmu.Map(gfn, level, hostPfn, write, hostPte.Writable, slot);
        AfterOperation("kvm_tdp_page_fault");
        return result;
    }

    /// <summary>
    /// kvm_mmu_hugepage_adjust(): 4K in a dirty-tracked slot; otherwise the largest level the
    /// host maps, that lies wholly inside the slot.
    /// </summary>
    private int HugePageAdjust(KvmMemorySlot slot, ulong gfn)
    {
        if (slot.DirtyTracked)
        {
            return 1;
        }

        var level = Math.Min(Host.MappingLevel(gfn), TdpWalker.MaxHugePageLevel);
        while (level > 1)
        {
            var start = TdpWalker.GfnRoundForLevel(gfn, level);
            if (start >= slot.BaseGfn && start + TdpWalker.PagesPerHpage(level) <= slot.BaseGfn + slot.Npages)
            {
                break;
            }

            level--;
        }

        return level;
    }

    /// <summary>A TLB hit that grants more than the SPTE does now: a flush the MMU owed was not done.</summary>
    private void CheckTranslation(KvmVcpu vcpu, ulong gfn, TlbEntry cached, bool write)
    {
        var leaf = Mmu.LeafFor(gfn);
        var current = leaf is { } l ? TdpWalker.SpteToPfn(l.Spte) + (gfn & (TdpWalker.PagesPerHpage(l.Level) - 1)) : (ulong?)null;
        if (current != cached.Pfn)
        {
            Violate("stale translation", $"vCPU {vcpu.Id} used a TLB entry for gfn 0x{gfn:x} -> host pfn 0x{cached.Pfn:x}, but the SPTE is {(current is null ? "not present" : $"host pfn 0x{current:x}")}");
        }
        else if (write && !MakeSpte.IsWritable(leaf!.Value.Spte))
        {
            Violate("stale translation", $"vCPU {vcpu.Id} wrote gfn 0x{gfn:x} through a writable TLB entry, but the SPTE is write-protected");
        }
    }

    private static string Upper(PageFaultResult result) => result switch
    {
        PageFaultResult.WriteProtected => "WRITE_PROTECTED",
        _ => result.ToString().ToUpperInvariant(),
    };
}
