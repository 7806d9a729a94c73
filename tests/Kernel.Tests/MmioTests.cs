namespace SpecKit.Kernel.Tests;

/// <summary>KVM_EXIT_MMIO: guest accesses no memslot backs, and stores to a KVM_MEM_READONLY slot.</summary>
public sealed class MmioTests : KernelTest
{
    private const ulong Unbacked = 0x5000_0000;
    private const ulong Gpa = 0x10_0000;

    [KvmTheory]
    [InlineData(1, 0xABUL)]
    [InlineData(2, 0xABCDUL)]
    [InlineData(4, 0x89AB_CDEFUL)]
    public void A_load_from_unbacked_memory_exits_and_reads_userspaces_answer(int width, ulong answer)
    {
        var vcpu = Vcpu();
        Assert.Equal(new VcpuExit.Mmio(0, Unbacked + 4, (uint)width, false, 0), vcpu.Run([GuestAccess.Read(Unbacked + 4, width)]));
        Assert.Equal([answer], Done(vcpu.Resume(answer | 0xFF00_0000_0000_0000)).Values);
    }

    [KvmTheory]
    [InlineData(1, 0x5AUL)]
    [InlineData(2, 0x5A5AUL)]
    [InlineData(4, 0x5A5A_5A5AUL)]
    public void A_store_to_unbacked_memory_exits_with_its_data(int width, ulong value)
    {
        var vcpu = Vcpu();
        Assert.Equal(new VcpuExit.Mmio(0, Unbacked, (uint)width, true, value), vcpu.Run([GuestAccess.Write(Unbacked, value, width)]));
        Done(vcpu.Resume());
    }

    [KvmFact]
    public void A_store_to_a_read_only_slot_exits_as_MMIO_and_a_load_reads_memory()
    {
        var hva = Memslot(1, Gpa, 16, MemoryRegionFlags.ReadOnly);
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Write(hva + 0x40, BitConverter.GetBytes(0x600D_F00Du)));
        var vcpu = Vcpu();
        Assert.Equal(new VcpuExit.Mmio(1, Gpa + 0x40, 4, true, 0xBAD), vcpu.Run([GuestAccess.Read(Gpa + 0x40), GuestAccess.Write(Gpa + 0x40, 0xBAD)]));
        var done = Done(vcpu.Resume());
        Assert.Equal(0x600D_F00DUL, done.Values[0]);
        Assert.Equal(0x600D_F00DUL, Done(vcpu.Run([GuestAccess.Read(Gpa + 0x40)])).Values[0]);
    }

    [KvmFact]
    public void The_exit_names_the_access_it_stopped_at_and_the_batch_goes_on_after_it()
    {
        Memslot(1, Gpa, 16);
        var vcpu = Vcpu();
        var exit = vcpu.Run([GuestAccess.Write(Gpa, 1), GuestAccess.Write(Gpa + 4, 2), GuestAccess.Read(Unbacked), GuestAccess.Read(Gpa + 4)]);
        Assert.Equal(2, Assert.IsType<VcpuExit.Mmio>(exit).Access);
        Assert.Equal([1UL, 2, 0x77, 2], Done(vcpu.Resume(0x77)).Values);
    }

    [KvmFact]
    public void Resuming_with_nothing_to_resume_and_running_over_a_pending_exit_are_refused()
    {
        var vcpu = Vcpu();
        Assert.IsType<VcpuExit.Refused>(vcpu.Resume());
        Assert.IsType<VcpuExit.Mmio>(vcpu.Run([GuestAccess.Read(Unbacked)]));
        Assert.IsType<VcpuExit.Refused>(vcpu.Run([GuestAccess.Read(Unbacked)]));
        Done(vcpu.Resume(1));
    }
}
