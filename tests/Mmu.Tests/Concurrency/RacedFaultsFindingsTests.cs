using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests.Concurrency;

/// <summary>
/// What the explorer's new races (RaceKind.Release, RaceKind.Migrate and KsmMerge, RaceKind.ClearDirtyLog
/// in a VM with the ring) found in the concurrent model itself, pinned: every interleaving with at most two preemptions.
/// </summary>
public class RacedFaultsFindingsTests
{
    private static SpecModelInfo Base => SpecModels.All.Single(m => m.Name == "base");

    /// <summary>
    /// kvm_tdp_mmu_zap_all() zaps "all direct roots, including invalid direct roots" (tdp_mmu.c):
    /// a root kvm_tdp_mmu_invalidate_roots() left with its SPTEs is zapped by the mm's release too,
    /// while a fault maps into the new valid root beside it.
    /// </summary>
    [Fact]
    public void The_mm_s_release_zaps_the_invalidated_root_too()
    {
        ConcurrentScenario Build()
        {
            var kvm = new Kvm.Kvm(Base);
            var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
            Assert.Equal(0, kvm.CreateMemslot(0, 0, 64, MemoryRegionFlags.None, 1));
            kvm.Access(vcpus[0], 0x10, AccessKind.Write);
            kvm.Tdp!.InvalidateRoots();
            var ctx = new ConcurrentKvm(kvm);
            return new ConcurrentScenario(ctx, [Operations.Access(ctx, vcpus[1], 0x20, AccessKind.Read), Operations.Release(ctx)], Operations.FinalCheck);
        }

        var result = Explorer.Exhaustive(Build, preemptionBound: 2);
        Assert.True(result.Clean, $"{result}\n{result.FirstFailure?.Describe()}");
    }

    /// <summary>
    /// kvm_tdp_mmu_unmap_gfn_range() walks the invalid roots too (tdp_mmu.c: "types = ... |
    /// KVM_INVALID_ROOTS"), as the spec's UnmapGfnRange InvalidRoots says: a migration zaps the
    /// page in the root kvm_tdp_mmu_invalidate_roots() left, or a vCPU not yet reloaded would go
    /// on through the old page.
    /// </summary>
    [Fact]
    public void A_migration_zaps_the_page_in_the_invalidated_root_too()
    {
        ConcurrentScenario Build()
        {
            var kvm = new Kvm.Kvm(Base);
            var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
            Assert.Equal(0, kvm.CreateMemslot(0, 0, 64, MemoryRegionFlags.None, 1));
            kvm.Access(vcpus[0], 0x10, AccessKind.Write);
            kvm.Tdp!.InvalidateRoots();
            var ctx = new ConcurrentKvm(kvm);
            return new ConcurrentScenario(ctx, [Operations.Access(ctx, vcpus[1], 0x10, AccessKind.Read), Operations.Migrate(ctx, 0x10)], Operations.FinalCheck);
        }

        var result = Explorer.Exhaustive(Build, preemptionBound: 2);
        Assert.True(result.Clean, $"{result}\n{result.FirstFailure?.Describe()}");
    }

    /// <summary>
    /// With the dirty ring, a page userspace has harvested but not yet reset still has its entry:
    /// the reset userspace makes before it reads the page (api.rst: the ioctl "must be called
    /// *before* reading the content of the dirty pages") re-protects it, so a write through its
    /// still writable SPTE in between is not lost, whatever runs beside it.
    /// </summary>
    [Fact]
    public void A_write_after_a_harvest_and_before_the_reset_is_pending_in_the_ring()
    {
        ConcurrentScenario Build()
        {
            var kvm = new Kvm.Kvm(Base);
            Assert.Equal(0, kvm.EnableDirtyRing(256 * KvmDirtyGfn.Size));
            var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
            Assert.Equal(0, kvm.CreateMemslot(0, 0, 64, MemoryRegionFlags.LogDirtyPages, 1));
            kvm.Access(vcpus[0], 0x10, AccessKind.Write);
            Assert.Single(kvm.HarvestDirtyRings());
            var ctx = new ConcurrentKvm(kvm);
            return new ConcurrentScenario(ctx, [Operations.Access(ctx, vcpus[0], 0x10, AccessKind.Write), Operations.Age(ctx, 0x10, 0x11)], Operations.FinalCheck);
        }

        var result = Explorer.Exhaustive(Build, preemptionBound: 2);
        Assert.True(result.Clean, $"{result}\n{result.FirstFailure?.Describe()}");
    }
}
