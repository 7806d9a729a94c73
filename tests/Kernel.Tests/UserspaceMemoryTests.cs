namespace SpecKit.Kernel.Tests;

/// <summary>The VMM's own memory behind the memslots: mmap, munmap, mprotect, its loads and stores.</summary>
public sealed class UserspaceMemoryTests : KernelTest
{
    private const ulong Gpa = 0x10_0000;

    [KvmFact]
    public void Userspace_and_the_guest_see_each_others_stores()
    {
        var hva = Memslot(1, Gpa, 16);
        var vcpu = Vcpu();
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Write(hva + Page, BitConverter.GetBytes(0x1111_2222u)));
        Assert.Equal(0x1111_2222UL, Done(vcpu.Run([GuestAccess.Read(Gpa + Page), GuestAccess.Write(Gpa + (2 * Page), 0x3333_4444)])).Values[0]);
        var bytes = new byte[4];
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Read(hva + (2 * Page), bytes));
        Assert.Equal(0x3333_4444u, BitConverter.ToUInt32(bytes));
    }

    [KvmFact]
    public void A_guest_access_to_munmapped_memory_gets_the_hosts_fault_exit()
    {
        var hva = Memslot(1, Gpa, 16);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa, 1)]));
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Munmap(hva, 16 * Page));
        AssertHostFault(vcpu.Run([GuestAccess.Read(Gpa)]), Gpa, isWrite: false);
    }

    [KvmFact]
    public void A_guest_store_to_memory_made_read_only_gets_the_hosts_fault_exit_and_a_load_works()
    {
        var hva = Memslot(1, Gpa, 16);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa, 0x42)]));
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Mprotect(hva, 16 * Page, Prot.Read));
        Assert.Equal(0x42UL, Done(vcpu.Run([GuestAccess.Read(Gpa)])).Values[0]);
        AssertHostFault(vcpu.Run([GuestAccess.Write(Gpa, 0x43)]), Gpa, isWrite: true);
    }

    [KvmFact]
    public void Userspace_accesses_that_would_fault_are_EFAULT()
    {
        var hva = Vm.Memory.Mmap(4 * Page).Value;
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Mprotect(hva, Page, Prot.Read));
        Assert.Equal(KvmResult.Fail(Errno.EFAULT), Vm.Memory.Write(hva, [1]));
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Read(hva, new byte[1]));
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Munmap(hva + Page, Page));
        Assert.Equal(KvmResult.Fail(Errno.EFAULT), Vm.Memory.Read(hva + Page, new byte[1]));

        // A store that runs from a good page into a bad one faults as a whole.
        Assert.Equal(KvmResult.Fail(Errno.EFAULT), Vm.Memory.Write(hva + Page - 2, new byte[4]));
    }

    [KvmFact]
    public void mprotect_over_a_hole_is_ENOMEM_and_munmap_takes_aligned_ranges()
    {
        var hva = Vm.Memory.Mmap(4 * Page).Value;
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Munmap(hva + Page, Page));
        Assert.Equal(KvmResult.Fail(Errno.ENOMEM), Vm.Memory.Mprotect(hva, 2 * Page, Prot.Read));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.Memory.Munmap(hva + 8, Page));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.Memory.Munmap(hva, 0));
    }

    [KvmFact]
    public void A_THP_mapping_is_2M_aligned()
    {
        var hva = Vm.Memory.Mmap(4UL << 20, transparentHugePages: true).Value;
        Assert.Equal(0UL, hva & ((2UL << 20) - 1));
        Assert.Equal(KvmResult.Ok(), Vm.Memory.Write(hva + (3UL << 20), [7]));
    }

    [KvmFact]
    public void Memory_the_VM_did_not_map_is_out_of_reach()
    {
        Assert.Throws<ArgumentException>(() => Vm.Memory.Write(0x1000, [1]));
        Assert.Throws<ArgumentException>(() => Vm.Memory.Munmap(0x1000, Page));
    }

    private static void AssertHostFault(VcpuExit exit, ulong gpa, bool isWrite)
    {
        if (Host.HostFaults == HostFaultExit.Mmio)
        {
            // emulator_read_write_onepage(): kvm_vcpu_read/write_guest() failed, so MMIO.
            var mmio = Assert.IsType<VcpuExit.Mmio>(exit);
            Assert.Equal((gpa, isWrite), (mmio.PhysAddr, mmio.IsWrite));
        }
        else
        {
            // kvm_handle_error_pfn(): hva_to_pfn() failed; KVM_RUN returns -EFAULT.
            var fault = Assert.IsType<VcpuExit.MemoryFault>(exit);
            Assert.Equal(gpa & ~(Page - 1), fault.Gpa & ~(Page - 1));
        }
    }
}
