using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SpecKit.Generators.Spec;
using SpecKit.Testing.Generators;

namespace SpecKit.Bench;

/// <summary>
/// The spec generator on the whole spec/ folder, from scratch (a cold compile), against a
/// generator that does nothing on the same driver and inputs: the ratio is the generator's
/// own cost above Roslyn's fixed overhead. Target: the generator run at most 50 ms.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 15)]
public class SpecGeneratorBench
{
    private ImmutableArray<AdditionalText> _texts;
    private Compilation _compilation = null!;

    [GlobalSetup]
    public void Setup()
    {
        _texts = Directory.GetFiles(Path.Combine(RepoRoot.Find(), "spec"), "*", SearchOption.AllDirectories)
            .Where(p => SpecGenerator.Extensions.Any(e => p.EndsWith(e, StringComparison.Ordinal)))
            .Select(p => (AdditionalText)new InMemoryText(p, File.ReadAllText(p)))
            .ToImmutableArray();
        _compilation = CSharpCompilation.Create("Bench");
    }

    [Benchmark(Baseline = true, Description = "no-op generator, same inputs")]
    public int NoOpGenerator() => Run(new NoOp());

    [Benchmark(Description = "SpecGenerator, full spec")]
    public int FullSpec() => Run(new SpecGenerator());

    private int Run(IIncrementalGenerator generator) =>
        CSharpGeneratorDriver.Create([generator.AsSourceGenerator()], additionalTexts: _texts)
            .RunGenerators(_compilation)
            .GetRunResult()
            .GeneratedTrees.Length;

    private sealed class NoOp : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context) =>
            context.RegisterSourceOutput(context.AdditionalTextsProvider.Select((t, ct) => t.GetText(ct)?.Length ?? 0).Collect(), (_, _) => { });
    }
}
