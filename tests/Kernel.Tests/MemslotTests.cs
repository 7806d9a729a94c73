namespace SpecKit.Kernel.Tests;

/// <summary>KVM_SET_USER_MEMORY_REGION(2) as kvm_set_memory_region() checks and applies it.</summary>
public sealed class MemslotTests : KernelTest
{
    private const ulong Gpa = 0x10_0000;

    private UserspaceMemoryRegion Region(ushort id, ulong gpa, ulong npages, ulong hva, MemoryRegionFlags flags = MemoryRegionFlags.None) =>
        new(new MemslotId(id), flags, gpa, npages * Page, hva);

    [KvmFact]
    public void Overlapping_memslots_are_EEXIST()
    {
        Memslot(1, Gpa, 16);
        var hva = Vm.Memory.Mmap(16 * Page).Value;
        Assert.Equal(KvmResult.Fail(Errno.EEXIST), Vm.SetUserMemoryRegion(Region(2, Gpa + (8 * Page), 16, hva)));
        Assert.Equal(KvmResult.Fail(Errno.EEXIST), Vm.SetUserMemoryRegion2(Region(2, Gpa - (8 * Page), 16, hva)));
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(Region(2, Gpa + (16 * Page), 16, hva)));
    }

    [KvmFact]
    public void Moving_onto_an_occupied_range_is_EEXIST()
    {
        var hva = Memslot(1, Gpa, 16);
        Memslot(2, Gpa + (32 * Page), 16);
        Assert.Equal(KvmResult.Fail(Errno.EEXIST), Vm.SetUserMemoryRegion(Region(1, Gpa + (40 * Page), 16, hva)));
    }

    [KvmFact]
    public void Changing_READONLY_npages_or_userspace_addr_of_a_slot_is_EINVAL()
    {
        var hva = Memslot(1, Gpa, 16);
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva, MemoryRegionFlags.ReadOnly)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(1, Gpa, 8, hva)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(1, Gpa, 8, hva + (8 * Page))));

        // KVM_MR_FLAGS_ONLY: dirty logging may change.
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva, MemoryRegionFlags.LogDirtyPages)));

        // The same region again changes nothing and succeeds.
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva, MemoryRegionFlags.LogDirtyPages)));
    }

    [KvmFact]
    public void Deleting_a_slot_that_does_not_exist_is_EINVAL() =>
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(UserspaceMemoryRegion.Delete(new MemslotId(7))));

    [KvmFact]
    public void Misaligned_geometry_is_EINVAL()
    {
        var hva = Vm.Memory.Mmap(17 * Page).Value;
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(1), 0, Gpa + 1, 16 * Page, hva)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(1), 0, Gpa, (16 * Page) + 8, hva)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(1), 0, Gpa, 16 * Page, hva + 8)));
    }

    [KvmFact]
    public void A_slot_id_past_the_user_slots_or_a_missing_address_space_is_EINVAL()
    {
        var hva = Vm.Memory.Mmap(16 * Page).Value;
        var userSlots = (ushort)Vm.CheckExtension(KvmCap.NrMemslots).Value;
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(userSlots, Gpa, 16, hva)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva) with { Slot = new MemslotId(MissingAddressSpace(), 1) }));
    }

    [KvmFact]
    public void Unknown_flags_and_guest_memfd_without_REGION2_are_EINVAL()
    {
        var hva = Vm.Memory.Mmap(16 * Page).Value;
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva, (MemoryRegionFlags)(1 << 3))));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva, MemoryRegionFlags.GuestMemfd)));
    }

    [KvmFact]
    public void Deleting_and_re_creating_a_slot_over_the_same_memory_keeps_the_guests_data()
    {
        var hva = Memslot(1, Gpa, 16);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa + 0x2000, 0x1234_5678)]));
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(UserspaceMemoryRegion.Delete(new MemslotId(1))));
        Assert.IsType<VcpuExit.Mmio>(vcpu.Run([GuestAccess.Read(Gpa + 0x2000)]));
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(Region(1, Gpa, 16, hva)));

        // The MMIO read is still waiting for userspace's answer; answering it ends that batch.
        Done(vcpu.Resume(0));
        Assert.Equal(0x1234_5678UL, Done(vcpu.Run([GuestAccess.Read(Gpa + 0x2000)])).Values[0]);
    }

    [KvmFact]
    public void A_moved_slot_shows_the_same_memory_at_its_new_gpa()
    {
        var hva = Memslot(1, Gpa, 16);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa + 0x3000, 0xCAFE)]));
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(Region(1, 0x40_0000, 16, hva)));
        Assert.Equal(0xCAFEUL, Done(vcpu.Run([GuestAccess.Read(0x40_3000)])).Values[0]);
        Assert.Equal(new VcpuExit.Mmio(0, Gpa + 0x3000, 4, false, 0), vcpu.Run([GuestAccess.Read(Gpa + 0x3000)]));
    }

    [KvmFact]
    public void Two_slots_can_alias_one_host_range()
    {
        var hva = Memslot(1, Gpa, 16);
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion2(Region(2, 0x80_0000, 16, hva)));
        var done = Done(Vcpu().Run([GuestAccess.Write(Gpa + 0x10, 0xA11A5), GuestAccess.Read(0x80_0010)]));
        Assert.Equal(0xA11A5UL, done.Values[1]);
    }

    [KvmFact]
    public void A_memslot_over_memory_the_VM_did_not_map_is_refused_before_the_kernel_sees_it() =>
        Assert.Throws<ArgumentException>(() => Vm.SetUserMemoryRegion(Region(1, Gpa, 16, 0x1000)));

    [KvmFact]
    public void The_system_slot_and_its_gpas_are_the_backends()
    {
        var hva = Vm.Memory.Mmap(16 * Page).Value;
        Assert.Throws<ArgumentException>(() => Vm.SetUserMemoryRegion(Region(1, 0xFFF0_0000, 16, hva)));
        Assert.Throws<ArgumentException>(() => Vm.SetUserMemoryRegion(UserspaceMemoryRegion.Delete(Vm.SystemSlot)));
        Assert.IsType<VcpuExit.Refused>(Vcpu().Run([GuestAccess.Write(0xFFF0_0000, 1)]));
    }

    private ushort MissingAddressSpace() => (ushort)Math.Max(1, Vm.CheckExtension(KvmCap.MultiAddressSpace).Value);
}
