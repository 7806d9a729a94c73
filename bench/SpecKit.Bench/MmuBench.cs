using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

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

/// <summary>
/// A VM under the base model on one MMU, one memslot of 4K host pages from gfn 0. Under shadow
/// paging the guest kernel has booted with all of RAM in its direct map, and a gfn is reached
/// through its direct-map address; under TDP through the GPA itself.
/// </summary>
internal sealed class BenchVm
{
    private readonly Action<ulong, AccessKind> _fault;

    public BenchVm(MmuKind mmu, ulong pages)
    {
        Kvm = new Kvm(SpecModels.Base, mmu) { CheckEveryOperation = false };
        Kvm.Log.Enabled = false;
        Vcpu = Kvm.CreateVcpu();
        Kvm.CreateMemslot(0, 0, pages, MemoryRegionFlags.None, hostLevel: 1);
        if (Kvm.Shadow is { } shadow)
        {
            new GuestKernel(Kvm).Boot(new GuestCpuState { Cr0Wp = true, EferNx = true });

            // The first access loads the root (kvm_mmu_load); after that each fault is FNAME(page_fault).
            Kvm.Access(Vcpu, 0, AccessKind.Read);
            _fault = (gfn, access) => shadow.PageFault(Vcpu, GuestKernel.DirectMap(gfn << 12), access == AccessKind.Write ? PfErr.PFERR_WRITE_MASK : 0, out _);
        }
        else
        {
            _fault = (gfn, access) => Kvm.Tdp!.PageFault(Vcpu, gfn, access);
        }
    }

    public Kvm Kvm { get; }

    public KvmVcpu Vcpu { get; }

    /// <summary>The MMU's fault handler for one gfn: kvm_tdp_page_fault, or FNAME(page_fault) on the direct-map address.</summary>
    public void Fault(ulong gfn, AccessKind access) => _fault(gfn, access);

    public static BenchVm Mapped(MmuKind mmu, ulong pages)
    {
        var vm = new BenchVm(mmu, pages);
        for (ulong gfn = 0; gfn < pages; gfn++)
        {
            vm.Fault(gfn, AccessKind.Write);
        }

        return vm;
    }

    /// <summary>The 4K leaf tables that map gfns [0, pages) in gfn order: TDP page tables, or the direct map's shadow pages.</summary>
    public List<ulong[]> LeafTables(ulong pages)
    {
        if (Kvm.Shadow is { } shadow)
        {
            return [.. shadow.ActivePages
                .Where(sp => sp.Role.Level == 1 && SpteMasks.IsShadowPresent(sp.Spt[0]) && sp.GetGfn(0) < pages && sp.GetGfn(0) % 512 == 0)
                .OrderBy(sp => sp.GetGfn(0))
                .Select(sp => sp.Spt)];
        }

        var tdp = Kvm.Tdp!;
        var tables = new List<ulong[]>();
        for (var iter = TdpIter.Start(tdp.Tables, tdp.Root, 4, 2, 0); iter.Valid && iter.Gfn < pages; iter.Next())
        {
            if (iter.Level == 2 && iter.IsPresent && !iter.IsLast)
            {
                tables.Add(tdp.Tables[TdpWalker.SpteToPfn(iter.OldSpte)]);
            }
        }

        return tables;
    }
}

/// <summary>
/// Faulting in a 4 GiB guest at 4 KiB: 1,048,576 calls of the MMU's fault handler, against
/// writing the same number of leaf SPTEs (made with the VM's masks) straight into fresh arrays.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, warmupCount: 1, iterationCount: 5, invocationCount: 1)]
public class FaultInBench
{
    private const ulong Pages = 1UL << 20;
    private BenchVm _vm = null!;
    private ulong[][] _arrays = [];

    [Params(MmuKind.TdpEpt, MmuKind.TdpNpt, MmuKind.Shadow)]
    public MmuKind Mmu { get; set; }

    [IterationSetup]
    public void Setup()
    {
        _vm = new BenchVm(Mmu, Pages);
        _arrays = new ulong[Pages / 512][];
    }

    [Benchmark(Baseline = true, Description = "write 1,048,576 leaf SPTEs into fresh tables")]
    public void DirectFill()
    {
        // A readable, executable, accessed, host-writable 4K leaf in the VM's format.
        var m = _vm.Kvm.Mmu.Masks;
        var bits = SpteMasks.MmuPresent | m.PresentMask | m.UserMask | m.AccessedMask | m.XMask | m.MtMask | m.HostWritableMask;
        for (var t = 0; t < _arrays.Length; t++)
        {
            var table = new ulong[512];
            for (var i = 0; i < 512; i++)
            {
                table[i] = bits | ((0x100000 + (ulong)((t * 512) + i)) << 12);
            }

            _arrays[t] = table;
        }
    }

    [Benchmark(Description = "fault in 4 GiB at 4K (the fault handler x 1,048,576)")]
    public void FaultIn()
    {
        for (ulong gfn = 0; gfn < Pages; gfn++)
        {
            _vm.Fault(gfn, AccessKind.Read);
        }
    }
}

/// <summary>
/// KVM_GET_DIRTY_LOG on a 4 GiB slot with every page dirty, against a plain loop that
/// exchanges each bitmap word and clears W in the same SPTE arrays. One call per iteration
/// (each needs the pages dirtied again), which tiered JIT would take about a hundred calls to
/// optimize fully; the job turns tiering off so both sides are measured as fully optimized code.
/// A million pages a call: at a quarter of that the plain loop took under a millisecond and the
/// ratio moved by 0.5 between idle runs of unchanged code.
/// </summary>
[Config(typeof(FullyOptimizedConfig))]
public class GetDirtyLogBench
{
    private const ulong Pages = 1UL << 20;
    private BenchVm _vm = null!;
    private List<ulong[]> _leaves = [];
    private KvmMemorySlot _slot = null!;

    [Params(MmuKind.TdpEpt, MmuKind.TdpNpt, MmuKind.Shadow)]
    public MmuKind Mmu { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _vm = BenchVm.Mapped(Mmu, Pages);
        _vm.Kvm.SetMemslotFlags(0, MemoryRegionFlags.LogDirtyPages);
        _slot = _vm.Kvm.Slot(0);
        _leaves = _vm.LeafTables(Pages);
    }

    /// <summary>Every page written since the last fetch: W set again (the fast path's work) and every bit set.</summary>
    [IterationSetup]
    public void Dirty()
    {
        foreach (var table in _leaves)
        {
            for (var i = 0; i < table.Length; i++)
            {
                table[i] |= SpteMasks.Writable;
            }
        }

        Array.Fill(_slot.DirtyBitmap!, ulong.MaxValue);
    }

    [Benchmark(Baseline = true, Description = "plain loop: xchg each word, clear W in the same SPTEs")]
    public ulong PlainLoop()
    {
        ulong seen = 0;
        var bitmap = _slot.DirtyBitmap!;
        for (var w = 0; w < bitmap.Length; w++)
        {
            var mask = Interlocked.Exchange(ref bitmap[w], 0);
            seen |= mask;
            var table = _leaves[w / 8];
            var first = (w % 8) * 64;
            while (mask != 0)
            {
                var bit = System.Numerics.BitOperations.TrailingZeroCount(mask);
                table[first + bit] &= ~SpteMasks.Writable;
                mask &= mask - 1;
            }
        }

        return seen;
    }

    [Benchmark(Description = "KVM_GET_DIRTY_LOG, 1,048,576 dirty pages")]
    public int GetDirtyLog() => _vm.Kvm.GetDirtyLog(0, out _);
}

/// <summary>Zapping a fully mapped 4 GiB (kvm_mmu_zap_all: every root, or every shadow page) against Span.Clear over the same leaf arrays.</summary>
[SimpleJob(RunStrategy.Monitoring, warmupCount: 1, iterationCount: 5, invocationCount: 1)]
public class ZapBench
{
    private const ulong Pages = 1UL << 20;
    private BenchVm _vm = null!;
    private List<ulong[]> _leaves = [];

    [Params(MmuKind.TdpEpt, MmuKind.TdpNpt, MmuKind.Shadow)]
    public MmuKind Mmu { get; set; }

    [IterationSetup]
    public void Setup()
    {
        _vm = BenchVm.Mapped(Mmu, Pages);
        _leaves = _vm.LeafTables(Pages);
    }

    [Benchmark(Baseline = true, Description = "Span.Clear over the 2,048 leaf tables")]
    public void SpanClear()
    {
        foreach (var table in _leaves)
        {
            table.AsSpan().Clear();
        }
    }

    [Benchmark(Description = "zap a fully mapped 4 GiB (kvm_mmu_zap_all)")]
    public bool Zap() => _vm.Kvm.Mmu.ZapAll();
}
