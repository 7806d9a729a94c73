using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Attributes;
using SpecKit.Explorer;
using SpecKit.Mmu;

namespace SpecKit.Bench;

/// <summary>
/// The explorer's throughput on EPT against the same operations run from a fixed script (the
/// cases generated once, applied op by op to a fresh VM, no generation and no runner), both with
/// the checker after every operation as the explorer runs it; and the model alone (the script
/// with the checker off), which is what "model operations per second" measures. Each invocation
/// runs <see cref="Cases"/> cases; the operations they run are printed at setup, so ops/s is
/// that count over the mean.
/// </summary>
[Config(typeof(ExplorerBenchConfig))]
public class ExplorerBench
{
    public const int Cases = 200;

    private readonly List<Case> _cases = [];

    private int _operations;

    [Params(VmKind.Ept, VmKind.Shadow)]
    public VmKind Kind { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var gen = OperationGen.Cases(Kind, 50);
        _cases.Clear();
        for (var i = 0; i < Cases; i++)
        {
            _cases.Add(SpecKit.Explorer.Explorer.Generate(gen, 2026, i).Case);
        }

        _operations = FixedScript();
        Console.WriteLine($"// {Kind}: {Cases} cases, {_operations} operations per invocation");
    }

    /// <summary>The cases' operations applied in order to a fresh VM each, the checker after every operation.</summary>
    [Benchmark(Baseline = true)]
    public int FixedScript() => Script(check: true);

    /// <summary>The explorer: each case generated from its seed and run by the runner (oracle, steps, observations).</summary>
    [Benchmark]
    public int Explorer()
    {
        var gen = OperationGen.Cases(Kind, 50);
        var steps = 0;
        for (var i = 0; i < Cases; i++)
        {
            steps += Runner.Run(SpecKit.Explorer.Explorer.Generate(gen, 2026, i).Case, SpecModels.Base).Steps.Count;
        }

        return steps;
    }

    /// <summary>The model alone: the script with the checker off.</summary>
    [Benchmark]
    public int ModelOnly() => Script(check: false);

    private int Script(bool check)
    {
        var operations = 0;
        foreach (var c in _cases)
        {
            var m = new Machine(c.Setup, SpecModels.Base);
            m.Kvm.CheckEveryOperation = check;
            c.Setup.Apply(m, "base");
            foreach (var op in c.Ops)
            {
                if (op.Apply(m) is not { } step)
                {
                    continue;
                }

                operations++;
                if (!step.Printable)
                {
                    break;
                }
            }
        }

        return operations;
    }
}

/// <summary>
/// An invocation runs 200 cases (seconds under shadow paging): few iterations, in process (no
/// second build of the whole graph, which outran BenchmarkDotNet's build timeout on a loaded
/// machine), so the runtime's tiering stays on and the warmup iteration reaches tier 1.
/// </summary>
public sealed class ExplorerBenchConfig : BenchmarkDotNet.Configs.ManualConfig
{
    public ExplorerBenchConfig() =>
        AddJob(BenchmarkDotNet.Jobs.Job.Default
            .WithStrategy(BenchmarkDotNet.Engines.RunStrategy.Monitoring)
            .WithWarmupCount(2)
            .WithIterationCount(5)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance));
}
