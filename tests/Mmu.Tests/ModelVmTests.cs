using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;
using UapiAccess = SpecKit.Uapi.GuestAccess;

namespace SpecKit.Mmu.Tests;

/// <summary>The model behind SpecKit.Uapi: the shapes a VMM sees, as the kernel backend gives them.</summary>
public class ModelVmTests
{
    private const ulong Page = UserspaceMemoryRegion.PageSize;

    private static (ModelVm Vm, IKvmVcpu Vcpu) Vm(bool emulated = false, int ringEntries = 0)
    {
        var kvm = new Kvm.Kvm(SpecModels.Named("base")) { GuestRunsInEmulator = emulated };
        var vm = new ModelVm(kvm);
        if (ringEntries > 0)
        {
            Assert.Equal(KvmResult.Ok(), vm.EnableCap(KvmCap.DirtyLogRing, (ulong)ringEntries * 16));
        }

        var hva = vm.Memory.Mmap(512 * Page).Value;
        Assert.Equal(KvmResult.Ok(), vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(0), MemoryRegionFlags.LogDirtyPages, 0, 512 * Page, hva)));
        return (vm, vm.CreateVcpu(0).Value);
    }

    [Fact]
    public void A_narrow_store_changes_only_its_bytes_of_the_word()
    {
        var (_, vcpu) = Vm();
        Assert.IsType<VcpuExit.Done>(vcpu.Run([UapiAccess.Write(0x1000, 0x1122334455667788, 8)]));
        Assert.IsType<VcpuExit.Done>(vcpu.Run([UapiAccess.Write(0x1002, 0xbeef, 2)]));
        var done = Assert.IsType<VcpuExit.Done>(vcpu.Run([UapiAccess.Read(0x1000, 8), UapiAccess.Read(0x1002, 2), UapiAccess.Read(0x1004, 4)]));
        Assert.Equal([0x11223344beef7788UL, 0xbeefUL, 0x11223344UL], done.Values);
    }

    [Fact]
    public void An_mmio_store_exits_with_the_instruction_and_holds_the_batch_until_resumed()
    {
        var (_, vcpu) = Vm();
        var exit = Assert.IsType<VcpuExit.Mmio>(vcpu.Run([UapiAccess.Write(0xfee00004, 0x1234, 4), UapiAccess.Read(0x2000, 4)]));
        Assert.Equal(new VcpuExit.Mmio(0, 0xfee00004, 4, true, 0x1234), exit);
        Assert.IsType<VcpuExit.Refused>(vcpu.Run([]));
        Assert.Equal([0x1234UL, 0UL], Assert.IsType<VcpuExit.Done>(vcpu.Resume()).Values);
    }

    [Fact]
    public void An_mmio_load_completes_with_userspace_s_data()
    {
        var (_, vcpu) = Vm();
        Assert.Equal(new VcpuExit.Mmio(0, 0xfee00010, 4, false, 0), vcpu.Run([UapiAccess.Read(0xfee00010, 4)]));
        Assert.Equal([0xabcdUL], Assert.IsType<VcpuExit.Done>(vcpu.Resume(0xabcd)).Values);
    }

    [Fact]
    public void The_ring_logs_a_page_once_with_SPTEs_and_once_per_store_when_every_access_is_emulated()
    {
        foreach (var (emulated, entries) in new[] { (false, 1), (true, 2) })
        {
            var (vm, vcpu) = Vm(emulated, ringEntries: 256);
            Assert.IsType<VcpuExit.Done>(vcpu.Run([UapiAccess.Write(0x3000, 1), UapiAccess.Write(0x3008, 2)]));
            Assert.Equal(Enumerable.Repeat(new DirtyGfn(new MemslotId(0), 3), entries), vcpu.PeekDirtyRing());
            Assert.Equal(entries, vcpu.HarvestDirtyRing().Count);
            Assert.Equal(KvmResult.Ok(entries), vm.ResetDirtyRings());
            Assert.Equal(emulated ? 0UL : 1UL, vm.GetStats().Value["pages_4k"]);
        }
    }

    [Fact]
    public void Userspace_stores_are_what_the_guest_loads_and_are_not_logged()
    {
        var (vm, vcpu) = Vm();
        var hva = vm.Kvm.Slot(0).UserspacePage << 12;
        Assert.Equal(KvmResult.Ok(), vm.Memory.Write(hva + 0x2004, BitConverter.GetBytes(0xcafeu)));
        Assert.Equal("none", vm.GetDirtyLog(new MemslotId(0)).Value.ToString());
        Assert.Equal([0xcafeUL], Assert.IsType<VcpuExit.Done>(vcpu.Run([UapiAccess.Read(0x2004, 4)])).Values);
        Assert.Equal(KvmResult.Fail(Errno.EFAULT), vm.Memory.Write(0x10, [1]));
    }
}
