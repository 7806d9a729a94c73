using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests.Concurrency;

/// <summary>
/// tdp_mmu_iter_cond_resched(kvm, iter, flush, shared) flushes before it drops mmu_lock when
/// tdp_mmu_zap_leafs() owes a flush. What the flush protects: vCPU 0 still has gfn 0x10 in its
/// TLB; the notifier zaps it and, with a migration of the same page spinning on mmu_lock, yields.
/// Without the flush (the variant ZapYieldWithoutFlush) the migration's own invalidation finds the
/// SPTE non-present, owes no flush, and the page moves while vCPU 0's TLB still maps the old one.
/// </summary>
public class ZapYieldFlushTests
{
    private static Func<ConcurrentScenario> ZapRacingMigration(string model) => () =>
    {
        var kvm = new Kvm.Kvm(SpecModels.All.Single(m => m.Name == model));
        var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.None, 1));
        kvm.Access(vcpus[0], 0x10, AccessKind.Read);
        kvm.Access(vcpus[1], 0x11, AccessKind.Read);
        var ctx = new ConcurrentKvm(kvm);
        return new ConcurrentScenario(ctx,
            [Operations.Invalidate(ctx, 0x10, 0x12, "the host unmaps the pages"), Operations.Migrate(ctx, 0x10), Operations.Access(ctx, vcpus[0], 0x10, AccessKind.Read)],
            Operations.FinalCheck);
    };

    [Fact]
    public void The_base_flushes_before_it_yields_so_no_vcpu_keeps_a_moved_page_in_its_tlb()
    {
        var result = Explorer.Exhaustive(ZapRacingMigration("base"), preemptionBound: 2);
        Assert.True(result.Clean, result.FirstFailure?.Describe());
        Assert.True(result.Complete);
        Assert.True(result.Schedules > 10, result.ToString());
    }

    [Fact]
    public void Yielding_without_the_flush_leaves_a_tlb_entry_to_a_page_the_primary_mmu_moved()
    {
        var result = Explorer.Exhaustive(ZapRacingMigration("ZapYieldWithoutFlush"), preemptionBound: 2);
        Assert.False(result.Clean);
        Assert.Contains("stale translation", result.Findings.Keys);
        Assert.True(result.Failing < result.Schedules, result.ToString());

        // The failing schedule yields without a flush and replays to the same finding.
        var replay = Scheduler.Replay(ZapRacingMigration("ZapYieldWithoutFlush"), result.FirstFailure!.Schedule);
        Assert.Equal(result.FirstFailure.Findings, replay.Findings);
        var steps = replay.Trace.Select(s => s.What).ToList();
        var drop = steps.FindIndex(w => w.StartsWith("tdp_mmu_iter_cond_resched: rcu_read_unlock, drops mmu_lock", StringComparison.Ordinal));
        Assert.True(drop > 0, replay.Describe());
        Assert.NotEqual("tdp_mmu_iter_cond_resched: kvm_flush_remote_tlbs before yielding", steps[drop - 1]);
    }
}
