using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Tests;

/// <summary>SPTEs with and without EPT A/D bits (spte.c make_spte, mark_spte_for_access_track; tdp_mmu.c clear_dirty_gfn_range).</summary>
public class AdBitsTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_new_writable_leaf_carries_A_and_D_only_with_AD_bits(bool ad)
    {
        var spte = new EptSpte(MakeSpte.Leaf(0x1234, 1, writable: true, hostWritable: true, prefetch: false, nxHugePages: false, ad));
        Assert.Equal(ad, spte.Accessed);
        Assert.Equal(ad, spte.Dirty);
        Assert.True(spte.Writable && spte.MmuWritable && spte.HostWritable);
        Assert.Equal(ad ? EptSpteAdType.Enabled : EptSpteAdType.Disabled, spte.AdType);
    }

    [Fact]
    public void Access_tracking_saves_R_and_X_and_restoring_gives_them_back_without_W()
    {
        var leaf = MakeSpte.Leaf(0x1234, 1, writable: true, hostWritable: true, prefetch: false, nxHugePages: false, adEnabled: false);
        var tracked = MakeSpte.MarkForAccessTrack(leaf);
        Assert.True(MakeSpte.IsAccessTrack(tracked));
        Assert.False(MakeSpte.IsAccessed(tracked));
        Assert.Equal(tracked, MakeSpte.MarkForAccessTrack(tracked));
        Assert.True(TdpWalker.IsShadowPresent(tracked));

        var restored = MakeSpte.RestoreAccessTrack(tracked);
        Assert.Equal(leaf & ~EptSpte.WritableMask, restored);
        Assert.True(MakeSpte.IsAccessed(restored));
    }

    [Fact]
    public void A_prefetched_leaf_without_AD_bits_starts_access_tracked()
    {
        var spte = MakeSpte.Leaf(0x1234, 1, writable: false, hostWritable: true, prefetch: true, nxHugePages: false, adEnabled: false);
        Assert.True(MakeSpte.IsAccessTrack(spte));
    }

    [Theory]
    [InlineData(true, EptSpte.DirtyMask)]
    [InlineData(false, EptSpte.WritableMask)]
    public void Clear_dirty_clears_D_or_with_AD_bits_off_W(bool ad, ulong cleared)
    {
        var kvm = new Kvm.Kvm(MmuPolicy.Rules) { EptAdBits = ad };
        var vcpu = kvm.CreateVcpu();
        kvm.CreateMemslot(0, 0, 512, MemslotFlags.None, hostLevel: 1);
        kvm.Access(vcpu, 0x7, AccessKind.Write);
        var before = kvm.Mmu.LeafFor(0x7)!.Value.Spte;
        Assert.NotEqual(0UL, before & cleared);

        Assert.True(kvm.Mmu.ClearDirtyGfnRange(0, 512));
        Assert.Equal(before & ~cleared, kvm.Mmu.LeafFor(0x7)!.Value.Spte);
        Assert.False(kvm.Mmu.ClearDirtyGfnRange(0, 512));
    }

    [Fact]
    public void AD_bits_cannot_change_once_SPTEs_exist()
    {
        var kvm = new Kvm.Kvm(MmuPolicy.Rules);
        var vcpu = kvm.CreateVcpu();
        kvm.CreateMemslot(0, 0, 512, MemslotFlags.None, hostLevel: 1);
        kvm.Access(vcpu, 0x7, AccessKind.Read);
        Assert.Throws<InvalidOperationException>(() => kvm.EptAdBits = false);
    }
}
