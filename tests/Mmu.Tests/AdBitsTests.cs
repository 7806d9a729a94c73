using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests;

/// <summary>
/// EPT SPTEs with and without A/D bits, as the newest spte.c makes them: since v6.13
/// kvm_mmu_set_ept_masks() sets shadow_accessed_mask and shadow_dirty_mask whether or not the
/// hardware has A/D bits, so an A/D-disabled SPTE (SPTE_TDP_AD_DISABLED) carries them as
/// software bits; mark_spte_for_access_track clears acc_track and A; clear_dirty_gfn_range
/// clears W where the SPTE's A/D bits are off.
/// </summary>
public class AdBitsTests
{
    private static (Kvm.Kvm Kvm, KvmVcpu Vcpu) Vm(bool ad)
    {
        var kvm = new Kvm.Kvm(SpecModels.Base) { EptAdBits = ad };
        var vcpu = kvm.CreateVcpu();
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 512, MemoryRegionFlags.None, hostLevel: 1));
        return (kvm, vcpu);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_new_writable_leaf_carries_A_and_D_with_and_without_AD_bits(bool ad)
    {
        var (kvm, vcpu) = Vm(ad);
        kvm.Access(vcpu, 0x7, AccessKind.Write);
        var spte = new EptSpte(kvm.Tdp!.LeafFor(0x7)!.Value.Spte);
        Assert.True(spte.Accessed && spte.Dirty);
        Assert.True(spte.Writable && spte.MmuWritable && spte.HostWritable);
        Assert.Equal(ad ? EptSpteAdType.Enabled : EptSpteAdType.Disabled, spte.AdType);
    }

    [Fact]
    public void Access_tracking_saves_R_and_X_clears_A_and_restoring_gives_them_back_without_W()
    {
        var (kvm, vcpu) = Vm(ad: false);
        kvm.Access(vcpu, 0x7, AccessKind.Write);
        var masks = kvm.Mmu.Masks;
        var leaf = kvm.Tdp!.LeafFor(0x7)!.Value.Spte;
        var tracked = masks.MarkForAccessTrack(leaf);
        Assert.True(masks.IsAccessTrack(tracked));
        Assert.False(masks.IsAccessed(tracked));
        Assert.Equal(tracked, masks.MarkForAccessTrack(tracked));
        Assert.True(SpteMasks.IsShadowPresent(tracked));

        // restore_acc_track_spte() gives back R and X, not W (the fast page fault sets W) nor A.
        var restored = masks.RestoreAccessTrack(tracked);
        Assert.Equal(leaf & ~(EptSpte.WritableMask | EptSpte.AccessedMask), restored);
    }

    [Fact]
    public void A_prefetched_leaf_without_AD_bits_starts_access_tracked()
    {
        var (kvm, _) = Vm(ad: false);
        var (spte, wrprot) = kvm.Mmu.MakeSpte(1, adDisabled: true, kvm.Slot(0), (uint)Acc.ACC_ALL, 0x7, 0x1234, kvm.Mmu.Masks.NonPresentValue, prefetch: true, synchronizing: false, hostWritable: true);
        Assert.False(wrprot);
        Assert.True(kvm.Mmu.Masks.IsAccessTrack(spte));
    }

    [Theory]
    [InlineData(true, EptSpte.DirtyMask)]
    [InlineData(false, EptSpte.WritableMask)]
    public void Clear_dirty_clears_D_or_with_AD_bits_off_W(bool ad, ulong cleared)
    {
        var (kvm, vcpu) = Vm(ad);
        kvm.Access(vcpu, 0x7, AccessKind.Write);
        var tdp = kvm.Tdp!;
        var before = tdp.LeafFor(0x7)!.Value.Spte;
        Assert.NotEqual(0UL, before & cleared);

        Assert.True(tdp.ClearDirtyGfnRange(0, 512));
        Assert.Equal(before & ~cleared, tdp.LeafFor(0x7)!.Value.Spte);
        Assert.False(tdp.ClearDirtyGfnRange(0, 512));
    }

    [Fact]
    public void AD_bits_cannot_change_once_SPTEs_exist()
    {
        var (kvm, vcpu) = Vm(ad: true);
        kvm.Access(vcpu, 0x7, AccessKind.Read);
        Assert.Throws<InvalidOperationException>(() => kvm.EptAdBits = false);
    }
}
