using SpecKit.Kernel;

namespace SpecKit.Kernel.Tests;

/// <summary>A fresh VM per test on the real kernel, disposed after it, and the helpers scenarios would use.</summary>
[Trait("Category", "kernel")]
public abstract class KernelTest : IDisposable
{
    protected const ulong Page = UserspaceMemoryRegion.PageSize;

    private KernelVm? _vm;

    protected static KernelKvm Kvm => KernelKvm.Instance ?? throw new InvalidOperationException(KernelKvm.UnavailableReason);

    protected static HostTraits Host => Kvm.Host;

    protected KernelVm Vm => _vm ??= Kvm.CreateVm().Value;

    /// <summary>Anonymous memory for <paramref name="npages"/> pages and a memslot over it; returns its hva.</summary>
    protected ulong Memslot(ushort id, ulong gpa, ulong npages, MemoryRegionFlags flags = MemoryRegionFlags.None)
    {
        var hva = Vm.Memory.Mmap(npages * Page).Value;
        Assert.Equal(KvmResult.Ok(), Vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(id), flags, gpa, npages * Page, hva)));
        return hva;
    }

    protected IKvmVcpu Vcpu(uint id = 0) => Vm.CreateVcpu(id).Value;

    protected static VcpuExit.Done Done(VcpuExit exit) => Assert.IsType<VcpuExit.Done>(exit);

    public void Dispose()
    {
        _vm?.Dispose();
        GC.SuppressFinalize(this);
    }
}
