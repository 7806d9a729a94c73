using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests;

/// <summary>
/// The pml module parameter (enable_pml): vmx.c hardware_setup() keeps it only with EPT and EPT
/// A/D bits, SVM has no cpu_dirty_log_size; the PML log holds PML_LOG_NR_ENTRIES gpas and a full
/// log exits and is flushed (handle_pml_full, vmx_flush_pml_buffer); the ring reserves the log
/// (kvm_dirty_ring_get_rsvd_entries).
/// </summary>
public class PmlTests
{
    [Theory]
    [InlineData(MmuKind.TdpNpt)]
    [InlineData(MmuKind.Shadow)]
    public void PML_is_only_for_EPT(MmuKind kind)
    {
        var kvm = new Kvm.Kvm(SpecModels.Base, kind);
        Assert.Throws<InvalidOperationException>(() => kvm.EnablePml = true);
        Assert.False(kvm.EnablePml);
    }

    [Fact]
    public void PML_needs_EPT_AD_bits_and_goes_with_them()
    {
        var kvm = new Kvm.Kvm(SpecModels.Base) { EptAdBits = false };
        Assert.Throws<InvalidOperationException>(() => kvm.EnablePml = true);

        var on = new Kvm.Kvm(SpecModels.Base) { EnablePml = true };
        on.EptAdBits = false;
        Assert.False(on.EnablePml);
    }

    [Fact]
    public void A_full_PML_log_is_flushed_before_the_next_entry()
    {
        var kvm = new Kvm.Kvm(SpecModels.Base) { EnablePml = true };
        var vcpu = kvm.CreateVcpu();
        const ulong pages = KvmVcpu.PmlLogNrEntries + 1;
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.None, hostLevel: 1));
        for (ulong gfn = 0; gfn < pages; gfn++)
        {
            kvm.Access(vcpu, gfn, AccessKind.Write);
        }

        Assert.Equal(0, kvm.SetMemslotFlags(0, MemoryRegionFlags.LogDirtyPages));
        for (ulong gfn = 0; gfn < pages; gfn++)
        {
            kvm.Access(vcpu, gfn, AccessKind.Write);
        }

        Assert.Equal([KvmVcpu.PmlLogNrEntries], vcpu.PmlBuffer);
        Assert.Equal(0, kvm.GetDirtyLog(0, out var bitmap));
        Assert.Equal(pages, (ulong)bitmap.Sum(w => System.Numerics.BitOperations.PopCount(w)));
        Assert.Empty(vcpu.PmlBuffer);
    }

    [Fact]
    public void The_ring_reserves_the_PML_log()
    {
        var kvm = new Kvm.Kvm(SpecModels.Base) { EnablePml = true };
        Assert.Equal(Kvm.Kvm.DirtyRingReservedEntries + KvmVcpu.PmlLogNrEntries, kvm.DirtyRingRsvdEntries);
        Assert.Equal(-(int)Errno.EINVAL, kvm.EnableDirtyRing(512 * KvmDirtyGfn.Size));
    }
}
