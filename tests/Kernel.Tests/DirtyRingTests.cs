namespace SpecKit.Kernel.Tests;

/// <summary>
/// The dirty ring: kvm_vm_ioctl_enable_dirty_log_ring()'s size rules, the mmap'd entries as
/// userspace peeks and harvests them, kvm_dirty_ring_reset()'s count, the soft-full exit, and
/// the backend's refusal to run a batch that could overflow the ring.
/// </summary>
public sealed class DirtyRingTests : KernelTest
{
    private const ulong Gpa = 0x10_0000;
    private const int RingBytes = 4096;
    private const int RingEntries = RingBytes / 16;
    private static readonly MemslotId Slot = new(3);

    [KvmTheory]
    [InlineData(0)]
    [InlineData(4095)]
    [InlineData(6144)]
    [InlineData(2048)]
    public void A_size_that_is_not_a_power_of_two_or_less_than_a_page_is_EINVAL(ulong bytes) =>
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.EnableCap(KvmCap.DirtyLogRing, bytes));

    [KvmFact]
    public void A_size_past_KVM_DIRTY_RING_MAX_ENTRIES_is_E2BIG()
    {
        // kvm_vm_ioctl_enable_dirty_log_ring(): "if (size > KVM_DIRTY_RING_MAX_ENTRIES * sizeof(struct kvm_dirty_gfn)) return -E2BIG".
        var max = (ulong)Vm.CheckExtension(KvmCap.DirtyLogRing).Value;
        Assert.Equal(KvmResult.Fail(Errno.E2BIG), Vm.EnableCap(KvmCap.DirtyLogRing, max * 2));
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.DirtyLogRing, max));
    }

    [KvmFact]
    public void The_ring_is_enabled_once()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.DirtyLogRing, RingBytes));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.EnableCap(KvmCap.DirtyLogRing, RingBytes));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.EnableCap(KvmCap.DirtyLogRingAcqRel, RingBytes * 2));
    }

    [KvmFact]
    public void The_ring_is_enabled_before_any_vCPU()
    {
        Vcpu();
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.EnableCap(KvmCap.DirtyLogRing, RingBytes));
    }

    [KvmFact]
    public void Peeking_leaves_the_entries_for_harvest_which_takes_them_in_order()
    {
        var vcpu = RingVm();
        Done(vcpu.Run([GuestAccess.Write(Gpa + (5 * Page), 1), GuestAccess.Write(Gpa + (2 * Page), 2), GuestAccess.Write(Gpa + (9 * Page), 3)]));
        var expected = new[] { new DirtyGfn(Slot, 5), new DirtyGfn(Slot, 2), new DirtyGfn(Slot, 9) };
        Assert.Equal(expected, vcpu.PeekDirtyRing());
        Assert.Equal(expected, vcpu.PeekDirtyRing());
        Assert.Equal(expected[..2], vcpu.HarvestDirtyRing(2));
        Assert.Equal(expected[2..], vcpu.PeekDirtyRing());
        Assert.Equal(expected[2..], vcpu.HarvestDirtyRing());
        Assert.Empty(vcpu.PeekDirtyRing());
    }

    [KvmFact]
    public void RESET_returns_how_many_harvested_entries_it_recycled()
    {
        var vcpu = RingVm();
        Done(vcpu.Run([GuestAccess.Write(Gpa, 1), GuestAccess.Write(Gpa + Page, 2), GuestAccess.Write(Gpa + (2 * Page), 3)]));
        Assert.Equal(KvmResult.Ok(0), Vm.ResetDirtyRings());
        vcpu.HarvestDirtyRing(2);
        Assert.Equal(KvmResult.Ok(2), Vm.ResetDirtyRings());
        Assert.Equal(KvmResult.Ok(0), Vm.ResetDirtyRings());
        vcpu.HarvestDirtyRing();
        Assert.Equal(KvmResult.Ok(1), Vm.ResetDirtyRings());
    }

    [KvmFact]
    public void Repeated_stores_to_one_page_are_one_entry_each_where_the_guest_is_emulated()
    {
        var vcpu = RingVm();
        Done(vcpu.Run([GuestAccess.Write(Gpa, 1), GuestAccess.Write(Gpa + 8, 2), GuestAccess.Write(Gpa, 3, 1)]));
        var entries = vcpu.HarvestDirtyRing();
        Assert.All(entries, e => Assert.Equal(new DirtyGfn(Slot, 0), e));

        // EveryWriteInstruction: kvm_vcpu_write_guest() -> mark_page_dirty() per store. With
        // SPTEs, the first store makes the page writable and the next ones do not fault.
        Assert.Equal(Host.DirtyEvents == DirtyEventSource.EveryWriteInstruction ? 3 : 1, entries.Count);
    }

    [KvmFact]
    public void Loads_make_no_entries_where_the_guest_is_emulated()
    {
        var vcpu = RingVm();
        Done(vcpu.Run([GuestAccess.Read(Gpa), GuestAccess.Read(Gpa + Page, 1)]));
        // Where SPTEs are mapped, a read fault may map the page writable and make_spte() then
        // marks it dirty: at most one entry per page.
        Assert.InRange(vcpu.PeekDirtyRing().Count, 0, Host.DirtyEvents == DirtyEventSource.EveryWriteInstruction ? 0 : 2);
    }

    [KvmFact]
    public void A_store_that_crosses_a_page_is_an_entry_for_each_page()
    {
        var vcpu = RingVm();
        Done(vcpu.Run([GuestAccess.Write(Gpa + Page - 2, 0xAABBCCDD)]));
        Assert.Equal([new DirtyGfn(Slot, 0), new DirtyGfn(Slot, 1)], vcpu.HarvestDirtyRing());
    }

    [KvmFact]
    public void A_slot_that_does_not_log_feeds_no_ring()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.DirtyLogRing, RingBytes));
        Memslot(3, Gpa, 16);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa, 1)]));
        Assert.Empty(vcpu.PeekDirtyRing());
    }

    [KvmFact]
    public void Each_vCPUs_stores_go_to_its_own_ring()
    {
        var vcpu0 = RingVm();
        var vcpu1 = Vcpu(1);
        Done(vcpu0.Run([GuestAccess.Write(Gpa, 1)]));
        Done(vcpu1.Run([GuestAccess.Write(Gpa + Page, 2)]));
        Assert.Equal([new DirtyGfn(Slot, 0)], vcpu0.PeekDirtyRing());
        Assert.Equal([new DirtyGfn(Slot, 1)], vcpu1.PeekDirtyRing());
    }

    [KvmFact]
    public void The_acquire_release_ring_works_the_same()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.DirtyLogRingAcqRel, RingBytes));
        Memslot(3, Gpa, 16, MemoryRegionFlags.LogDirtyPages);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa + (4 * Page), 1)]));
        Assert.Equal([new DirtyGfn(Slot, 4)], vcpu.HarvestDirtyRing());
        Assert.Equal(KvmResult.Ok(1), Vm.ResetDirtyRings());
    }

    [KvmFact]
    public void A_soft_full_ring_exits_with_KVM_EXIT_DIRTY_RING_FULL_until_harvested_and_reset()
    {
        var vcpu = RingVm(npages: 256);
        var softLimit = RingEntries - Host.DirtyRingReservedEntries;
        // kvm_dirty_ring_push() raises KVM_REQ_DIRTY_RING_SOFT_FULL at the soft limit, and KVM
        // checks it on the way back into the guest: the exit comes after the batch's last store
        // (Access = the batch's length) or at the next KVM_RUN, before the guest runs.
        var exit = vcpu.Run(Stores(softLimit));
        var access = softLimit;
        if (exit is VcpuExit.Done)
        {
            exit = vcpu.Run([GuestAccess.Read(Gpa)]);
            access = 0;
        }

        Assert.Equal(new VcpuExit.DirtyRingFull(access), exit);

        // Still soft-full: KVM exits again before the guest runs.
        Assert.Equal(new VcpuExit.DirtyRingFull(access), vcpu.Resume());
        Assert.Equal(softLimit, vcpu.HarvestDirtyRing().Count);
        Assert.Equal(KvmResult.Ok(softLimit), Vm.ResetDirtyRings());
        Assert.IsType<VcpuExit.Done>(vcpu.Resume());
    }

    [KvmFact]
    public void A_batch_that_could_pass_the_soft_limit_is_refused_and_nothing_runs()
    {
        var vcpu = RingVm(npages: 256);
        var budget = RingEntries - Host.DirtyRingReservedEntries;
        var refused = Assert.IsType<VcpuExit.Refused>(vcpu.Run(Stores(budget + 1)));
        Assert.Contains("KVM_RESET_DIRTY_RINGS", refused.Reason, StringComparison.Ordinal);
        Assert.Empty(vcpu.PeekDirtyRing());
        Assert.Equal(0UL, Done(vcpu.Run([GuestAccess.Read(Gpa)])).Values[0]);
    }

    [KvmFact]
    public void Harvested_entries_hold_their_place_in_the_ring_until_RESET()
    {
        var vcpu = RingVm(npages: 256);
        var budget = RingEntries - Host.DirtyRingReservedEntries;
        Done(vcpu.Run(Stores(100)));
        vcpu.HarvestDirtyRing();
        Assert.IsType<VcpuExit.Refused>(vcpu.Run(Stores(budget - 99)));
        Assert.Equal(KvmResult.Ok(100), Vm.ResetDirtyRings());
        Assert.IsType<VcpuExit.Refused>(vcpu.Run(Stores(budget + 1)));
        Done(vcpu.Run(Stores(budget - 1)));
    }

    private IKvmVcpu RingVm(ulong npages = 16)
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.DirtyLogRing, RingBytes));
        Memslot(3, Gpa, npages, MemoryRegionFlags.LogDirtyPages);
        return Vcpu();
    }

    /// <summary>One store to each of <paramref name="count"/> pages: one dirty event each on any host.</summary>
    private static List<GuestAccess> Stores(int count) =>
        Enumerable.Range(0, count).Select(i => GuestAccess.Write(Gpa + ((ulong)i * Page), (ulong)i + 1)).ToList();
}
