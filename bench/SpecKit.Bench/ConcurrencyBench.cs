using BenchmarkDotNet.Attributes;
using SpecKit.Mmu;
using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Bench;

/// <summary>
/// Exploring the two-fault scenario (vCPU 0 and vCPU 1 write gfn 0x10 concurrently) against the
/// same steps run in one fixed order (the non-preemptive schedule) in the same run: each
/// schedule builds a fresh VM, runs the steps, and checks the invariants after every SPTE change,
/// as the exploration does. Per schedule, and for the whole exhaustive run at preemption bound 2.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 1, iterationCount: 5)]
public class ConcurrencyBench
{
    private static readonly Func<ConcurrentScenario> TwoFaults = () =>
    {
        var kvm = new Kvm(SpecModels.Base);
        var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
        kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.None, 1);
        var ctx = new ConcurrentKvm(kvm);
        return new ConcurrentScenario(ctx, [Operations.Access(ctx, vcpus[0], 0x10, AccessKind.Write), Operations.Access(ctx, vcpus[1], 0x10, AccessKind.Write)], Operations.FinalCheck);
    };

    // A schedule with two preemptions: both vCPUs walk before either links, so one cmpxchg fails.
    private string _racing = "";

    [GlobalSetup]
    public void Setup()
    {
        var solo = Scheduler.Replay(TwoFaults, "");
        var firstCmpxchg = solo.Trace.ToList().FindIndex(s => s.What.Contains("cmpxchg", StringComparison.Ordinal));
        _racing = new string('0', firstCmpxchg) + new string('1', firstCmpxchg + 1) + "0";
        if (!Scheduler.Replay(TwoFaults, _racing).Log.Any(l => l.Contains("RET_PF_RETRY", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException("the racing schedule does not make a vCPU retry");
        }
    }

    [Benchmark(Baseline = true, Description = "one schedule, fixed order (non-preemptive)")]
    public int FixedOrder() => Scheduler.Replay(TwoFaults, "").Trace.Count;

    [Benchmark(Description = "one schedule, racing (cmpxchg fails, RET_PF_RETRY)")]
    public int Racing() => Scheduler.Replay(TwoFaults, _racing).Trace.Count;

    [Benchmark(Description = "exhaustive, preemption bound 2 (368 schedules)")]
    public int Exhaustive() => SpecKit.Mmu.Concurrency.Explorer.Exhaustive(TwoFaults, preemptionBound: 2).Schedules;
}
