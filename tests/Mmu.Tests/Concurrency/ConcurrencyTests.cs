using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests.Concurrency;

/// <summary>
/// The TDP MMU's concurrent paths under the deterministic scheduler: parallel faults under the
/// read side of mmu_lock (tdp_mmu_set_spte_atomic), a fault racing an MMU notifier invalidation,
/// and seed 000's .change_pte() race; every interleaving with at most two preemptions.
/// </summary>
public class ConcurrencyTests
{
    private static Func<ConcurrentScenario> Scenario(SpecModelInfo model, Func<ConcurrentKvm, KvmVcpu[], ConcurrentThread[]> threads, int hostLevel = 1)
        => () =>
        {
            var kvm = new Kvm.Kvm(model);
            var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
            Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.None, hostLevel));
            var ctx = new ConcurrentKvm(kvm);
            return new ConcurrentScenario(ctx, threads(ctx, vcpus), Operations.FinalCheck);
        };

    private static SpecModelInfo Model(string name) => SpecModels.All.Single(m => m.Name == name);

    private static SpecModelInfo WithUnmapLock(MmuLock side)
    {
        var b = Model("base");
        return b with { Rules = b.Rules with { UnmapGfnRange = b.Rules.UnmapGfnRange with { Lock = side } } };
    }

    private static Func<ConcurrentScenario> TwoWrites(ulong gfn0, ulong gfn1) => Scenario(Model("base"), (ctx, v) =>
        [Operations.Access(ctx, v[0], gfn0, AccessKind.Write), Operations.Access(ctx, v[1], gfn1, AccessKind.Write)]);

    [Fact]
    public void Two_vcpus_faulting_the_same_gfn_are_clean_in_every_interleaving_and_some_lose_the_cmpxchg()
    {
        var result = Explorer.Exhaustive(TwoWrites(0x10, 0x10), preemptionBound: 2);
        Assert.True(result.Clean, result.FirstFailure?.Describe());
        Assert.True(result.Complete);
        Assert.True(result.Schedules > 10, result.ToString());

        // A schedule where both walk before either links: one cmpxchg fails, -EBUSY, RET_PF_RETRY.
        var retried = Explorer.Exhaustive(TwoWrites(0x10, 0x10), preemptionBound: 1);
        Assert.True(retried.Clean);
        var race = Scheduler.Replay(TwoWrites(0x10, 0x10), Interleave());
        Assert.True(race.Clean, race.Describe());
        Assert.Contains(race.Log, l => l.Contains("RET_PF_RETRY", StringComparison.Ordinal));
    }

    // vCPU 0 runs up to its first cmpxchg, vCPU 1 up to its own, then vCPU 0 goes on: both read a
    // non-present L4 entry, vCPU 0 links, vCPU 1's cmpxchg fails.
    private static string Interleave()
    {
        var solo = Scheduler.Replay(TwoWrites(0x10, 0x10), "");
        var firstCmpxchg = solo.Trace.ToList().FindIndex(s => s.What.Contains("cmpxchg", StringComparison.Ordinal));
        return new string('0', firstCmpxchg) + new string('1', firstCmpxchg + 1) + "0";
    }

    [Fact]
    public void Two_vcpus_faulting_different_gfns_of_one_table_are_clean_in_every_interleaving()
    {
        var result = Explorer.Exhaustive(TwoWrites(0x10, 0x11), preemptionBound: 2);
        Assert.True(result.Clean, result.FirstFailure?.Describe());
        Assert.True(result.Schedules > 10);
    }

    private static Func<ConcurrentScenario> FaultRacingInvalidation(SpecModelInfo model) => Scenario(model, (ctx, v) =>
        [Operations.Access(ctx, v[0], 0x10, AccessKind.Write), Operations.Invalidate(ctx, 0x10, 0x11, "munmap-free change")]);

    [Fact]
    public void A_fault_racing_an_invalidation_is_clean_under_the_write_lock_and_not_under_the_read_lock()
    {
        var write = Explorer.Exhaustive(FaultRacingInvalidation(WithUnmapLock(MmuLock.Write)), preemptionBound: 2);
        Assert.True(write.Clean, write.FirstFailure?.Describe());

        // The Lock line is live: with the unmap policy's lock flipped to Read, tdp_mmu_zap_leafs'
        // writes breach lockdep_assert_held_write, and a fault can install its SPTE while the
        // invalidation is in progress.
        var read = Explorer.Exhaustive(FaultRacingInvalidation(WithUnmapLock(MmuLock.Read)), preemptionBound: 2);
        Assert.False(read.Clean);
        Assert.True(read.Schedules > write.Schedules, $"{read} vs {write}");
        Assert.Contains("SPTE installed during invalidation", read.Findings.Keys);

        // The failing schedule replays to the same findings.
        var replay = Scheduler.Replay(FaultRacingInvalidation(WithUnmapLock(MmuLock.Read)), read.FirstFailure!.Schedule);
        Assert.Equal(read.FirstFailure.Findings, replay.Findings);
    }

    private static Func<ConcurrentScenario> FaultRacingKsm(string model) => Scenario(Model(model), (ctx, v) =>
        [Operations.Access(ctx, v[0], 0x42, AccessKind.Read), Operations.KsmMerge(ctx, 0x42)]);

    [Theory]
    [InlineData("base")]
    [InlineData("ChangePteDead")]
    [InlineData("ChangePteStandalone")]
    public void Seed_000_a_fault_racing_a_ksm_merge_is_clean_in_every_interleaving(string model)
    {
        var result = Explorer.Exhaustive(FaultRacingKsm(model), preemptionBound: 2);
        Assert.True(result.Clean, result.FirstFailure?.Describe());
        Assert.True(result.Schedules > 5);
    }

    [Fact]
    public void Seed_000_the_standalone_change_pte_without_its_sequence_bump_maps_a_stale_page_in_some_interleavings()
    {
        var result = Explorer.Exhaustive(FaultRacingKsm("ChangePteStandaloneNoSeq"), preemptionBound: 2);
        Assert.False(result.Clean);
        Assert.True(result.Failing < result.Schedules);
        Assert.Contains("SPTE maps a stale host page", result.Findings.Keys);

        var pct = Explorer.Pct(FaultRacingKsm("ChangePteStandaloneNoSeq"), seed: 1, runs: 200);
        Assert.False(pct.Clean, pct.ToString());
    }

    // gfn 0x201 is mapped at 4K in a 2M host page (as after dirty logging on a kernel without
    // huge page recovery); vCPU 0's read maps the 2M page over the table, tearing it down on the
    // shared path, while vCPU 1's fetch (4K: the NX huge page mitigation) walks into that table.
    private static Func<ConcurrentScenario> HugeOverTable(bool freeThroughRcu) => () =>
    {
        var kvm = new Kvm.Kvm(Model("base")) { NxHugePages = true };
        var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.None, hostLevel: 2));
        var slot = kvm.FindSlot(0x201)!;
        var pte = kvm.Host.Lookup(slot.GfnToHvpn(0x201))!.Value;
        Assert.Equal(Tdp.PageFaultResult.Fixed, kvm.Tdp!.Map(new Tdp.TdpFault(0x201, pte.Pfn, 2, 1, AccessKind.Read, pte.Writable, false, slot)));
        var ctx = new ConcurrentKvm(kvm) { FreeThroughRcu = freeThroughRcu };
        return new ConcurrentScenario(ctx, [Operations.Access(ctx, vcpus[0], 0x200, AccessKind.Read), Operations.Access(ctx, vcpus[1], 0x202, AccessKind.Fetch)], Operations.FinalCheck);
    };

    [Fact]
    public void A_table_torn_down_on_the_shared_path_is_frozen_and_freed_after_the_grace_period()
    {
        var result = Explorer.Exhaustive(HugeOverTable(freeThroughRcu: true), preemptionBound: 2);
        Assert.True(result.Clean, result.FirstFailure?.Describe());

        // Some schedule has vCPU 1 meet FROZEN_SPTE (or lose its cmpxchg to it) and retry.
        var frozen = 0;
        for (var i = 0; i < 200 && frozen == 0; i++)
        {
            var run = Scheduler.Run(HugeOverTable(true)(), new RandomChooser(i));
            frozen += run.Trace.Any(s => s.What.Contains("FROZEN", StringComparison.Ordinal)) && run.Log.Any(l => l.StartsWith("vCPU 1", StringComparison.Ordinal) && l.Contains("RET_PF_RETRY", StringComparison.Ordinal)) ? 1 : 0;
        }

        Assert.True(frozen > 0);

        // Freed at once, not through call_rcu(), the table is read by the walker still inside it.
        var unsafeFree = Explorer.Exhaustive(HugeOverTable(freeThroughRcu: false), preemptionBound: 2);
        Assert.Contains("page table use after free", unsafeFree.Findings.Keys);
        Assert.True(unsafeFree.Failing < unsafeFree.Schedules);
    }

    private sealed class RandomChooser(int seed) : IScheduleChooser
    {
        private readonly Random _random = new(seed);

        public int Choose(int step, IReadOnlyList<int> enabled, int previous) => enabled[_random.Next(enabled.Count)];
    }
}
