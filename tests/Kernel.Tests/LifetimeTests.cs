using SpecKit.Kernel;

namespace SpecKit.Kernel.Tests;

[CollectionDefinition(nameof(LifetimeTests), DisableParallelization = true)]
public sealed class LifetimeCollection;

/// <summary>Disposing a VM closes every fd and unmaps every region it made (run alone: fds are per process).</summary>
[Collection(nameof(LifetimeTests))]
[Trait("Category", "kernel")]
public sealed class LifetimeTests
{
    [KvmFact]
    public void Disposing_a_VM_closes_its_fds_and_unmaps_its_memory()
    {
        var kvm = KernelKvm.Instance!;
        _ = kvm.Host;
        var fds = OpenFds();
        ulong hva;
        using (var vm = kvm.CreateVm().Value)
        {
            Assert.Equal(KvmResult.Ok(), vm.EnableCap(KvmCap.DirtyLogRing, 4096));
            hva = vm.Memory.Mmap(16 * UserspaceMemoryRegion.PageSize).Value;
            Assert.Equal(KvmResult.Ok(), vm.SetUserMemoryRegion(new UserspaceMemoryRegion(new MemslotId(1), MemoryRegionFlags.LogDirtyPages, 0x10_0000, 16 * UserspaceMemoryRegion.PageSize, hva)));
            var vcpu = vm.CreateVcpu(0).Value;
            Assert.IsType<VcpuExit.Done>(vcpu.Run([GuestAccess.Write(0x10_0000, 1)]));
            Assert.True(OpenFds() > fds);
            Assert.True(Mapped(hva));
        }

        Assert.Equal(fds, OpenFds());
        Assert.False(Mapped(hva));
    }

    private static int OpenFds() => Directory.GetFiles("/proc/self/fd").Length;

    private static bool Mapped(ulong hva) => File.ReadLines("/proc/self/maps").Any(line =>
    {
        var range = line.Split(' ')[0].Split('-');
        return hva >= Convert.ToUInt64(range[0], 16) && hva < Convert.ToUInt64(range[1], 16);
    });
}
