using BenchmarkDotNet.Attributes;
using SpecKit.Explorer;
using SpecKit.Mmu;

namespace SpecKit.Bench;

/// <summary>
/// The suite's search for each breaching variant (<see cref="BreachSearch"/>: seed 13, shrunk
/// with its fixed tries), whose mean is the "caught within 10 s each" figure; against the same
/// number of sequences run under the base model, which finds nothing, so the ratio is what the
/// variant's failing run, the shrinking and the printing add to plain exploration.
/// </summary>
[Config(typeof(ExplorerBenchConfig))]
public class BreachSearchBench
{
    private long _sequences;

    [ParamsSource(nameof(Models))]
    public string Model { get; set; } = "";

    public static IEnumerable<string> Models => BreachSearch.Breaches.Select(b => b.Model);

    [GlobalSetup]
    public void Setup()
    {
        var found = SpecKit.Explorer.Explorer.Explore(BreachSearch.Options(Model)).Found
            ?? throw new InvalidOperationException($"{Model}: the search finds no breach");
        _sequences = found.FoundAt + 1;
        Console.WriteLine($"// {Model}: found at sequence {found.FoundAt}, shrunk to {found.Run.Steps.Count} steps from {found.StepsBeforeShrinking}");
    }

    /// <summary>The base model over the sequences the search runs before it finds the breach.</summary>
    [Benchmark(Baseline = true)]
    public long SameSequencesUnderBase() =>
        SpecKit.Explorer.Explorer.Explore(BreachSearch.Options(Model) with { Model = SpecModels.Base, Sequences = _sequences }).Figures.Steps;

    /// <summary>The search: exploring until the breach, shrinking it and printing the feature.</summary>
    [Benchmark]
    public int FindAndShrink() =>
        SpecKit.Explorer.Explorer.Explore(BreachSearch.Options(Model)).Found!.Run.Steps.Count;
}
