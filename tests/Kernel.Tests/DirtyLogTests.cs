namespace SpecKit.Kernel.Tests;

/// <summary>
/// KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG as kvm_get_dirty_log_protect() and
/// kvm_clear_dirty_log_protect() answer them, and the bitmap's life with
/// KVM_MEM_LOG_DIRTY_PAGES (kvm_prepare_memory_region()).
/// </summary>
public sealed class DirtyLogTests : KernelTest
{
    // A slot that starts and ends off any 64-page or page-table boundary.
    private const ulong BaseGfn = 0x1f0;
    private const ulong Npages = 200;
    private const ulong Gpa = BaseGfn * Page;
    private static readonly MemslotId Slot = new(1);

    [KvmFact]
    public void A_slot_id_past_the_user_slots_is_EINVAL()
    {
        var beyond = new MemslotId((ushort)Vm.CheckExtension(KvmCap.NrMemslots).Value);
        Assert.Equal(Errno.EINVAL, Vm.GetDirtyLog(beyond).Errno);
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.ClearDirtyLog(beyond, 0, 64, new DirtyBitmap(64)));
    }

    [KvmFact]
    public void An_address_space_the_VM_does_not_have_is_EINVAL()
    {
        var slot = new MemslotId((ushort)Math.Max(1, Vm.CheckExtension(KvmCap.MultiAddressSpace).Value), 1);
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Assert.Equal(Errno.EINVAL, Vm.GetDirtyLog(slot).Errno);
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.ClearDirtyLog(slot, 0, 64, new DirtyBitmap(64)));
    }

    [KvmFact]
    public void A_missing_slot_is_ENOENT()
    {
        Assert.Equal(Errno.ENOENT, Vm.GetDirtyLog(new MemslotId(5)).Errno);
        Assert.Equal(KvmResult.Fail(Errno.ENOENT), Vm.ClearDirtyLog(new MemslotId(5), 0, 64, new DirtyBitmap(64)));
    }

    [KvmFact]
    public void A_slot_without_logging_has_no_bitmap_so_ENOENT()
    {
        Memslot(1, Gpa, Npages);
        Assert.Equal(Errno.ENOENT, Vm.GetDirtyLog(Slot).Errno);
        Assert.Equal(KvmResult.Fail(Errno.ENOENT), Vm.ClearDirtyLog(Slot, 0, 64, new DirtyBitmap(64)));
    }

    [KvmFact]
    public void With_the_dirty_ring_the_bitmap_calls_are_ENXIO()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.DirtyLogRing, 4096));
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Assert.Equal(Errno.ENXIO, Vm.GetDirtyLog(Slot).Errno);
        Assert.Equal(KvmResult.Fail(Errno.ENXIO), Vm.ClearDirtyLog(Slot, 0, 64, new DirtyBitmap(64)));
    }

    [KvmFact]
    public void CLEAR_needs_no_manual_protection()
    {
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Done(Vcpu().Run([GuestAccess.Write(Gpa, 1)]));
        Assert.Equal(KvmResult.Ok(), Vm.ClearDirtyLog(Slot, 0, 64, DirtyBitmap.Of(64, 0)));
        Assert.Equal("none", Vm.GetDirtyLog(Slot).Value.ToString());
    }

    [KvmFact]
    public void CLEAR_takes_a_first_page_on_a_64_page_boundary_and_a_range_inside_the_slot()
    {
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.ClearDirtyLog(Slot, 1, 64, new DirtyBitmap(64)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.ClearDirtyLog(Slot, 192, 64, new DirtyBitmap(64)));

        // A count that is not a multiple of 64 must reach the slot's end.
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.ClearDirtyLog(Slot, 0, 100, new DirtyBitmap(100)));
        Assert.Equal(KvmResult.Ok(), Vm.ClearDirtyLog(Slot, 128, 72, new DirtyBitmap(72)));
    }

    [KvmFact]
    public void GET_reports_the_written_pages_then_clears_them_without_manual_protection()
    {
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Done(Vcpu().Run([GuestAccess.Write(Gpa, 1), GuestAccess.Write(Gpa + (3 * Page), 2), GuestAccess.Write(Gpa + (64 * Page), 3), GuestAccess.Write(Gpa + (199 * Page), 4), GuestAccess.Read(Gpa + (5 * Page))]));
        Assert.Equal("0x0, 0x3, 0x40, 0xc7", Vm.GetDirtyLog(Slot).Value.ToString());
        Assert.Equal("none", Vm.GetDirtyLog(Slot).Value.ToString());
    }

    [KvmFact]
    public void With_manual_protection_GET_keeps_the_bits_until_CLEAR()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.ManualDirtyLogProtect2, (ulong)ManualDirtyLogProtect.Enable));
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Done(Vcpu().Run([GuestAccess.Write(Gpa, 1), GuestAccess.Write(Gpa + (3 * Page), 2), GuestAccess.Write(Gpa + (70 * Page), 3)]));
        Assert.Equal("0x0, 0x3, 0x46", Vm.GetDirtyLog(Slot).Value.ToString());
        Assert.Equal("0x0, 0x3, 0x46", Vm.GetDirtyLog(Slot).Value.ToString());
        Assert.Equal(KvmResult.Ok(), Vm.ClearDirtyLog(Slot, 0, 64, DirtyBitmap.Of(64, 3)));
        Assert.Equal(KvmResult.Ok(), Vm.ClearDirtyLog(Slot, 64, 64, DirtyBitmap.Of(64, 6)));
        Assert.Equal("0x0", Vm.GetDirtyLog(Slot).Value.ToString());
    }

    [KvmFact]
    public void INITIALLY_SET_sets_exactly_the_slots_pages()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.ManualDirtyLogProtect2, (ulong)(ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet)));
        Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        var bitmap = Vm.GetDirtyLog(Slot).Value;
        Assert.Equal(DirtyBitmap.All(Npages), bitmap);
        Assert.Equal(0UL, bitmap.Words[^1] >> (int)(Npages % 64));
    }

    [KvmFact]
    public void Turning_logging_off_and_on_again_loses_the_pending_bits()
    {
        var hva = Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        Done(Vcpu().Run([GuestAccess.Write(Gpa + Page, 1)]));
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(Slot, MemoryRegionFlags.None, Gpa, Npages * Page, hva)));
        Assert.Equal(Errno.ENOENT, Vm.GetDirtyLog(Slot).Errno);
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(Slot, MemoryRegionFlags.LogDirtyPages, Gpa, Npages * Page, hva)));
        Assert.Equal("none", Vm.GetDirtyLog(Slot).Value.ToString());
    }

    [KvmFact]
    public void The_bitmap_follows_a_slot_across_KVM_MR_MOVE()
    {
        var hva = Memslot(1, Gpa, Npages, MemoryRegionFlags.LogDirtyPages);
        var vcpu = Vcpu();
        Done(vcpu.Run([GuestAccess.Write(Gpa + (2 * Page), 1)]));
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(Slot, MemoryRegionFlags.LogDirtyPages, 0x100_0000, Npages * Page, hva)));
        Done(vcpu.Run([GuestAccess.Write(0x100_0000 + (9 * Page), 2)]));
        // kvm_prepare_memory_region(): a slot that keeps logging keeps old->dirty_bitmap.
        Assert.Equal("0x2, 0x9", Vm.GetDirtyLog(Slot).Value.ToString());
    }
}
