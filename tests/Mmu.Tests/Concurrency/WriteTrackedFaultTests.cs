using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests.Concurrency;

/// <summary>
/// A write fault on a write-tracked GFN, as kvm_tdp_mmu_page_fault() takes it: with a present
/// SPTE, page_fault_handle_page_track() returns RET_PF_WRITE_PROTECTED before fast_page_fault()
/// and mmu_lock; without one, the map installs a read-only SPTE (make_spte's wrprot) and
/// tdp_mmu_map_handle_target_level() returns RET_PF_WRITE_PROTECTED. Either way
/// kvm_mmu_page_fault() emulates the write (kvm_mmu_write_protect_fault), which marks the page
/// dirty through kvm_vcpu_write_guest().
/// </summary>
public class WriteTrackedFaultTests
{
    private const ulong Present = 0x10;
    private const ulong NotPresent = 0x20;

    private static SpecModelInfo Base => SpecModels.All.Single(m => m.Name == "base");

    // Slot 0 dirty-logged, both GFNs write-tracked, Present mapped read-only by a read, the
    // bitmap fetched (cleared) before the threads start.
    private static Kvm.Kvm TrackedVm(out KvmVcpu[] vcpus)
    {
        var kvm = new Kvm.Kvm(Base);
        vcpus = [kvm.CreateVcpu(), kvm.CreateVcpu()];
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.LogDirtyPages, 1));
        Assert.Equal(0, kvm.WriteTrackAddGfn(Present));
        Assert.Equal(0, kvm.WriteTrackAddGfn(NotPresent));
        kvm.Access(vcpus[0], Present, AccessKind.Read);
        Assert.Equal(0, kvm.GetDirtyLog(0, out _));
        return kvm;
    }

    private static Func<ConcurrentScenario> Writes(params ulong[] gfns) => () =>
    {
        var kvm = TrackedVm(out var vcpus);
        var ctx = new ConcurrentKvm(kvm);
        return new ConcurrentScenario(ctx, gfns.Select((g, i) => Operations.Access(ctx, vcpus[i], g, AccessKind.Write)).ToArray(), Operations.FinalCheck);
    };

    private static bool Dirty(Kvm.Kvm kvm, ulong gfn) => (kvm.FindSlot(gfn)!.DirtyBitmap![gfn / 64] & (1UL << (int)(gfn % 64))) != 0;

    [Fact]
    public void A_write_to_a_present_tracked_spte_is_emulated_without_mmu_lock_and_leaves_the_spte_alone()
    {
        ConcurrentScenario? scenario = null;
        ulong before = 0;
        var run = Scheduler.Replay(() =>
        {
            scenario = Writes(Present)();
            before = scenario.Context.Kvm.Tdp!.LeafFor(Present)!.Value.Spte;
            return scenario;
        }, "");
        Assert.True(run.Clean, run.Describe());
        var kvm = scenario!.Context.Kvm;
        Assert.False(SpteMasks.IsWritable(before));
        Assert.DoesNotContain(run.Trace, s => s.What.Contains("mmu_lock", StringComparison.Ordinal) || s.What.StartsWith("fast_page_fault", StringComparison.Ordinal));
        Assert.Contains(run.Log, l => l.Contains("page_fault_handle_page_track, RET_PF_WRITE_PROTECTED", StringComparison.Ordinal));
        Assert.Equal(before, kvm.Tdp!.LeafFor(Present)!.Value.Spte);
        Assert.True(Dirty(kvm, Present), "the emulated write (kvm_vcpu_write_guest) marks the page dirty");
    }

    [Fact]
    public void A_write_to_a_tracked_gfn_without_an_spte_installs_it_read_only_then_emulates()
    {
        ConcurrentScenario? scenario = null;
        var run = Scheduler.Replay(() => scenario = Writes(NotPresent)(), "");
        Assert.True(run.Clean, run.Describe());
        var kvm = scenario!.Context.Kvm;
        Assert.Contains(run.Trace, s => s.What == "read_lock(mmu_lock)");
        Assert.Contains(run.Log, l => l.Contains("page fault, RET_PF_WRITE_PROTECTED", StringComparison.Ordinal));
        var leaf = kvm.Tdp!.LeafFor(NotPresent);
        Assert.NotNull(leaf);
        Assert.False(SpteMasks.IsWritable(leaf.Value.Spte));
        Assert.True(Dirty(kvm, NotPresent));
    }

    [Fact]
    public void The_sequential_fault_maps_a_tracked_gfn_without_an_spte_read_only_before_it_emulates()
    {
        var kvm = TrackedVm(out var vcpus);
        kvm.Access(vcpus[0], NotPresent, AccessKind.Write);
        var leaf = kvm.Tdp!.LeafFor(NotPresent);
        Assert.NotNull(leaf);
        Assert.False(SpteMasks.IsWritable(leaf.Value.Spte));
        Assert.True(Dirty(kvm, NotPresent));
        Assert.Empty(kvm.Violations);
    }

    [Fact]
    public void Two_vcpus_writing_tracked_gfns_are_clean_in_every_interleaving_and_no_emulated_write_is_lost()
    {
        var result = Explorer.Exhaustive(Writes(Present, NotPresent), preemptionBound: 2);
        Assert.True(result.Clean, result.FirstFailure?.Describe());
        Assert.True(result.Complete);
        Assert.True(result.Schedules > 5, result.ToString());
    }
}
