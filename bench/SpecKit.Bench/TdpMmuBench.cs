using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Bench;

/// <summary>One call per iteration, with the JIT's tiering off so the first call already runs optimized code.</summary>
public sealed class FullyOptimizedConfig : BenchmarkDotNet.Configs.ManualConfig
{
    public FullyOptimizedConfig() =>
        AddJob(BenchmarkDotNet.Jobs.Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithWarmupCount(5)
            .WithIterationCount(30)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithEnvironmentVariables(new BenchmarkDotNet.Jobs.EnvironmentVariable("DOTNET_TieredCompilation", "0")));
}

/// <summary>A VM under the base model with one memslot of 4K host pages, every page faulted in.</summary>
internal static class BenchVm
{
    public static Kvm Create(ulong pages, bool write)
    {
        var kvm = new Kvm(MmuPolicy.Rules) { CheckEveryOperation = false };
        var vcpu = kvm.CreateVcpu();
        kvm.CreateMemslot(0, 0, pages, MemslotFlags.None, hostLevel: 1);
        if (write)
        {
            for (ulong gfn = 0; gfn < pages; gfn++)
            {
                kvm.PageFault(vcpu, gfn, AccessKind.Write);
            }
        }

        return kvm;
    }

    /// <summary>The 4K leaf tables in GFN order, found with the iterator.</summary>
    public static List<ulong[]> LeafTables(Kvm kvm, ulong pages)
    {
        var tables = new List<ulong[]>();
        for (var iter = TdpIter.Start(kvm.Mmu.Tables, kvm.Mmu.Root, 4, 2, 0); iter.Valid && iter.Gfn < pages; iter.Next())
        {
            if (iter.Level == 2 && iter.IsPresent && !iter.IsLast)
            {
                tables.Add(kvm.Mmu.Tables[TdpWalker.SpteToPfn(iter.OldSpte)]);
            }
        }

        return tables;
    }
}

/// <summary>
/// Faulting in a 4 GiB guest at 4 KiB: 1,048,576 calls of kvm_tdp_page_fault (target: at most 0.5 s),
/// against writing the same leaf SPTEs straight into page-table arrays.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, warmupCount: 1, iterationCount: 5, invocationCount: 1)]
public class FaultInBench
{
    private const ulong Pages = 1UL << 20;
    private Kvm _kvm = null!;
    private KvmVcpu _vcpu = null!;
    private ulong[][] _arrays = [];

    [IterationSetup]
    public void Setup()
    {
        _kvm = BenchVm.Create(Pages, write: false);
        _vcpu = _kvm.Vcpus[0];
        _arrays = new ulong[Pages / 512][];
    }

    [Benchmark(Baseline = true, Description = "write 1,048,576 leaf SPTEs into fresh tables")]
    public void DirectFill()
    {
        for (var t = 0; t < _arrays.Length; t++)
        {
            var table = new ulong[512];
            for (var i = 0; i < 512; i++)
            {
                table[i] = SpecKit.Mmu.Tdp.MakeSpte.Leaf(0x100000 + (ulong)((t * 512) + i), 1, writable: true, hostWritable: true, prefetch: false, nxHugePages: false);
            }

            _arrays[t] = table;
        }
    }

    [Benchmark(Description = "fault in 4 GiB at 4K (kvm_tdp_page_fault x 1,048,576)")]
    public void FaultIn()
    {
        for (ulong gfn = 0; gfn < Pages; gfn++)
        {
            _kvm.PageFault(_vcpu, gfn, AccessKind.Read);
        }
    }
}

/// <summary>
/// KVM_GET_DIRTY_LOG on a 1 GiB slot with every page dirty (target: at most 5 ns a page, and within
/// 2x of a plain loop that exchanges each bitmap word and clears W in the same SPTE arrays).
/// One call per iteration (each needs the pages dirtied again), which tiered JIT would take
/// about a hundred calls to optimize fully; the job turns tiering off so both sides are
/// measured as fully optimized code.
/// </summary>
[Config(typeof(FullyOptimizedConfig))]
public class GetDirtyLogBench
{
    private const ulong Pages = 1UL << 18;
    private Kvm _kvm = null!;
    private List<ulong[]> _leaves = [];
    private KvmMemorySlot _slot = null!;

    [GlobalSetup]
    public void GlobalSetup()
    {
        _kvm = BenchVm.Create(Pages, write: true);
        _kvm.SetMemslotFlags(0, MemslotFlags.LogDirtyPages);
        _slot = _kvm.Slot(0);
        _leaves = BenchVm.LeafTables(_kvm, Pages);
    }

    /// <summary>Every page written since the last fetch: W set again (the fast path's work) and every bit set.</summary>
    [IterationSetup]
    public void Dirty()
    {
        foreach (var table in _leaves)
        {
            for (var i = 0; i < table.Length; i++)
            {
                table[i] |= EptSpte.WritableMask;
            }
        }

        Array.Fill(_slot.DirtyBitmap, ulong.MaxValue);
    }

    [Benchmark(Baseline = true, Description = "plain loop: xchg each word, clear W in the same SPTEs")]
    public ulong PlainLoop()
    {
        ulong seen = 0;
        var bitmap = _slot.DirtyBitmap;
        for (var w = 0; w < bitmap.Length; w++)
        {
            var mask = Interlocked.Exchange(ref bitmap[w], 0);
            seen |= mask;
            var table = _leaves[w / 8];
            var first = (w % 8) * 64;
            while (mask != 0)
            {
                var bit = System.Numerics.BitOperations.TrailingZeroCount(mask);
                table[first + bit] &= ~EptSpte.WritableMask;
                mask &= mask - 1;
            }
        }

        return seen;
    }

    [Benchmark(Description = "KVM_GET_DIRTY_LOG, 262,144 dirty pages")]
    public ulong[] GetDirtyLog() => _kvm.GetDirtyLog(0);
}

/// <summary>Zapping a fully mapped 4 GiB (kvm_tdp_mmu_zap_all) against Span.Clear over the same leaf arrays (target: within 3x).</summary>
[SimpleJob(RunStrategy.Monitoring, warmupCount: 1, iterationCount: 5, invocationCount: 1)]
public class ZapBench
{
    private const ulong Pages = 1UL << 20;
    private Kvm _kvm = null!;
    private List<ulong[]> _leaves = [];

    [IterationSetup]
    public void Setup()
    {
        _kvm = BenchVm.Create(Pages, write: true);
        _leaves = BenchVm.LeafTables(_kvm, Pages);
    }

    [Benchmark(Baseline = true, Description = "Span.Clear over the 2,048 leaf tables")]
    public void SpanClear()
    {
        foreach (var table in _leaves)
        {
            table.AsSpan().Clear();
        }
    }

    [Benchmark(Description = "zap a fully mapped 4 GiB (tdp_mmu_zap_root)")]
    public bool Zap() => _kvm.Mmu.ZapRoot();
}
