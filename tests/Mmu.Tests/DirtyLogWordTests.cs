using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests;

/// <summary>KVM_GET_DIRTY_LOG re-protecting a whole 64-page bitmap word (clear_dirty_pt_masked with every bit set).</summary>
public class DirtyLogWordTests
{
    [Fact]
    public void A_fully_dirty_word_is_reported_and_every_written_page_is_write_protected_again()
    {
        var kvm = new Kvm.Kvm(SpecModels.Base);
        var vcpu = kvm.CreateVcpu();
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 512, MemoryRegionFlags.LogDirtyPages, hostLevel: 1));
        for (ulong gfn = 64; gfn < 128; gfn++)
        {
            kvm.Access(vcpu, gfn, AccessKind.Write);
        }

        // A hole in the word: gfn 200's table entry was never faulted in and must stay non-present.
        Assert.Equal(0, kvm.GetDirtyLog(0, out var log));
        Assert.Equal(ulong.MaxValue, log[1]);
        for (ulong gfn = 64; gfn < 128; gfn++)
        {
            var spte = new EptSpte(kvm.Tdp!.LeafFor(gfn)!.Value.Spte);
            Assert.False(spte.Writable);
            Assert.True(spte.MmuWritable);
        }

        Assert.Equal(0, kvm.GetDirtyLog(0, out var again));
        Assert.Equal(0UL, again[1]);
        Assert.Empty(kvm.Violations);
    }

    [Fact]
    public void A_fully_set_mask_leaves_entries_that_are_not_present_alone()
    {
        var kvm = new Kvm.Kvm(SpecModels.Base);
        var vcpu = kvm.CreateVcpu();
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 512, MemoryRegionFlags.LogDirtyPages, hostLevel: 1));
        kvm.Access(vcpu, 70, AccessKind.Write);
        var written = kvm.Tdp!.LeafFor(70)!.Value.Spte;

        kvm.Tdp!.ClearDirtyPtMasked(64, ulong.MaxValue, wrprot: true);

        Assert.Equal(written & ~EptSpte.WritableMask, kvm.Tdp!.LeafFor(70)!.Value.Spte);
        for (ulong gfn = 64; gfn < 128; gfn++)
        {
            Assert.True(gfn == 70 || kvm.Tdp!.LeafFor(gfn) is null);
        }

        // Entries that were never faulted in still hold SHADOW_NONPRESENT_VALUE.
        kvm.CheckInvariants("ClearDirtyPtMasked");
        Assert.Empty(kvm.Violations);
    }
}
