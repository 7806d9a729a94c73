using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// Finds out, once per process and on a throwaway VM, how this host's KVM answers where hosts
/// differ, so that the differences are data (<see cref="HostTraits"/>) rather than surprises:
/// <list type="bullet">
/// <item>two stores to one page give two ring entries on a host that emulates the guest
/// (kvm_vcpu_write_guest() marks the page dirty per write), one where SPTEs are write-protected
/// or D-bit tracked;</item>
/// <item>a 256-entry ring is soft-full after exactly 256 - 64 entries when the reserve is
/// KVM_DIRTY_RING_RSVD_ENTRIES alone (no PML buffer);</item>
/// <item>pages_4k, pages_2m and pages_1g stay 0 when the host never maps an SPTE;</item>
/// <item>a store to memory the VMM made read-only exits to userspace as MMIO, or fails KVM_RUN
/// with -EFAULT.</item>
/// </list>
/// Every step stays below the ring's size, so the probe can never overflow it.
/// </summary>
internal static class HostProbe
{
    private const ulong ProbeGpa = 0x10_0000;
    private const int RingEntries = 256;
    private const int KvmDirtyRingRsvdEntries = 64;

    /// <summary>The PML log holds 512 entries (PML_LOG_NR_ENTRIES); a host with PML reserves them too.</summary>
    private const int PmlEntries = 512;

    public static HostTraits Detect(KernelKvm kvm)
    {
        var tdpMmu = ModuleParameter("kvm", "tdp_mmu");
        var module = new[] { "kvm_pvm", "kvm_intel", "kvm_amd" }.FirstOrDefault(m => Directory.Exists($"/sys/module/{m}")) ?? "kvm";
        var pml = ModuleParameter(module, "pml") == true;
        var release = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "?";
        var description = $"Linux {release}, {module}" + (tdpMmu is { } t ? $", tdp_mmu={(t ? 'Y' : 'N')}" : "");

        // The probe's own batches are checked against the smallest possible reserve; each stays
        // below the ring's size, which is what keeps a ring from overflowing on any host.
        var provisional = new HostTraits(description, DirtyEventSource.WriteFaultOrDirtyBit, true, HostFaultExit.MemoryFault, KvmDirtyRingRsvdEntries, tdpMmu);
        using var vm = kvm.CreateVm(provisional).Value;
        var hva = vm.Memory.Mmap(RingEntries * UserspaceMemoryRegion.PageSize).Value;
        Require(vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(1), MemoryRegionFlags.LogDirtyPages, ProbeGpa, RingEntries * UserspaceMemoryRegion.PageSize, hva)), "a logging memslot");
        var ringEnabled = vm.EnableCap(KvmCap.DirtyLogRing, RingEntries * 16).IsOk;
        var vcpu = vm.CreateVcpu(0).Value;

        var dirtyEvents = ProbeDirtyEvents(vm, vcpu, ringEnabled);
        var reserved = ringEnabled ? ProbeReserve(vm, vcpu) : KvmDirtyRingRsvdEntries + (pml ? PmlEntries : 0);
        var stats = vm.GetStats();
        var countsPages = stats.IsOk && new[] { "pages_4k", "pages_2m", "pages_1g" }.Sum(n => (long)(stats.Value.Find(n)?.Value ?? 0)) > 0;

        Require(vm.Memory.Mprotect(hva, UserspaceMemoryRegion.PageSize, Prot.Read), "mprotect");
        var hostFaults = vcpu.Run([GuestAccess.Write(ProbeGpa, 1)]) is VcpuExit.Mmio ? HostFaultExit.Mmio : HostFaultExit.MemoryFault;

        return new HostTraits(description, dirtyEvents, countsPages, hostFaults, reserved, tdpMmu);
    }

    private static DirtyEventSource ProbeDirtyEvents(KernelVm vm, IKvmVcpu vcpu, bool ringEnabled)
    {
        Require(vcpu.Run([GuestAccess.Write(ProbeGpa, 1), GuestAccess.Write(ProbeGpa + 8, 2)]), "two stores to one page");
        int events;
        if (ringEnabled)
        {
            events = vcpu.HarvestDirtyRing().Count;
            Require(vm.ResetDirtyRings(), "KVM_RESET_DIRTY_RINGS");
        }
        else
        {
            // Without a ring the bitmap cannot count events; a store after GET re-protected the
            // page shows whether stores are tracked per page, so fall back to the page rule.
            events = 1;
        }

        return events > 1 ? DirtyEventSource.EveryWriteInstruction : DirtyEventSource.WriteFaultOrDirtyBit;
    }

    private static int ProbeReserve(KernelVm vm, IKvmVcpu vcpu)
    {
        var softLimit = RingEntries - KvmDirtyRingRsvdEntries;
        var stores = Enumerable.Range(0, softLimit).Select(i => GuestAccess.Write(ProbeGpa + ((ulong)i * UserspaceMemoryRegion.PageSize), 3)).ToList();
        Require(vcpu.Run(stores[..^1]), "stores up to one below the soft limit");
        var reserved = KvmDirtyRingRsvdEntries + PmlEntries;
        var exit = vcpu.Run([]);
        if (exit is VcpuExit.Done)
        {
            // KVM_REQ_DIRTY_RING_SOFT_FULL is checked on the way back into the guest: the exit
            // can come before the batch's end or at the next KVM_RUN.
            exit = vcpu.Run(stores[^1..]);
            if (exit is VcpuExit.Done)
            {
                exit = vcpu.Run([]);
            }

            reserved = KvmDirtyRingRsvdEntries;
        }

        vcpu.HarvestDirtyRing();
        Require(vm.ResetDirtyRings(), "KVM_RESET_DIRTY_RINGS");
        if (exit is VcpuExit.DirtyRingFull)
        {
            Require(vcpu.Resume(), "the run after the reset");
        }

        return reserved;
    }

    private static bool? ModuleParameter(string module, string parameter)
    {
        var path = $"/sys/module/{module}/parameters/{parameter}";
        return File.Exists(path) ? File.ReadAllText(path).Trim() is "Y" or "1" : null;
    }

    private static void Require(KvmResult result, string what)
    {
        if (!result.IsOk)
        {
            throw new InvalidOperationException($"probing the host: {what} failed with {result}");
        }
    }

    private static void Require(VcpuExit exit, string what)
    {
        if (exit is not VcpuExit.Done)
        {
            throw new InvalidOperationException($"probing the host: {what} ended with {exit}");
        }
    }
}
