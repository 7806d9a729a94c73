namespace SpecKit.Kernel.Tests;

/// <summary>What the probe finds on this host, and the facts of the machine kind this project runs on.</summary>
public sealed class HostTraitsTests : KernelTest
{
    [KvmFact]
    public void The_description_names_the_running_kernel_and_its_KVM_module()
    {
        Assert.Contains(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), Host.Description, StringComparison.Ordinal);
        Assert.Contains("kvm", Host.Description, StringComparison.Ordinal);
    }

    [KvmFact]
    public void The_reserve_is_at_least_KVM_DIRTY_RING_RSVD_ENTRIES() => Assert.True(Host.DirtyRingReservedEntries >= 64);

    /// <summary>
    /// This project's machines run a PVM build of KVM (module kvm_pvm, tdp_mmu=N) that runs
    /// guests in the instruction emulator. Pinned here so that a change of host shows up as a
    /// failing test rather than as scenarios that quietly start to differ.
    /// </summary>
    [KvmFact]
    public void On_the_emulating_PVM_host_every_write_instruction_is_a_dirty_event_and_no_SPTE_is_counted()
    {
        if (!Directory.Exists("/sys/module/kvm_pvm"))
        {
            return;
        }

        Assert.Equal(DirtyEventSource.EveryWriteInstruction, Host.DirtyEvents);
        Assert.False(Host.StatsCountMappedPages);
        Assert.Equal(HostFaultExit.Mmio, Host.HostFaults);
        Assert.Equal(64, Host.DirtyRingReservedEntries);
        Assert.False(Host.TdpMmu);
    }
}
