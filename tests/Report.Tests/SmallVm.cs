using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;
using SpecKit.Pictures;
using SpecKit.Uapi;

namespace SpecKit.Report.Tests;

/// <summary>The small run's VM: the base model on EPT, one 1024-page memslot at gfn 0 with dirty logging.</summary>
internal sealed class SmallVm
{
    private Kvm? _kvm;

    public Kvm Kvm => _kvm ?? throw new InvalidOperationException("no VM yet");

    public void Create(int vcpus)
    {
        _kvm = new Kvm(SpecModels.Named("base"));
        for (var i = 0; i < vcpus; i++)
        {
            _kvm.CreateVcpu();
        }

        Assert.Equal(0, _kvm.CreateMemslot(0, 0, 0x400, MemoryRegionFlags.LogDirtyPages, 1));
    }

    public void Write(ulong gfn) => Assert.True(Kvm.WriteGuest(Kvm.Vcpus[0], gfn << 12, 1));

    /// <summary>The gfns KVM_GET_DIRTY_LOG reports now.</summary>
    public List<ulong> Dirty
    {
        get
        {
            Assert.Equal(0, Kvm.GetDirtyLog(0, out var bitmap));
            return Enumerable.Range(0, bitmap.Length * 64).Where(i => (bitmap[i / 64] & (1ul << (i % 64))) != 0).Select(i => (ulong)i).ToList();
        }
    }

    public string Picture() => SptePicture.Render(Kvm.DescribeSptes(), "SPTEs");
}
