using System.Collections.Immutable;
using System.Reflection;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SpecKit.Generators.Features;
using SpecKit.Testing.Generators;

namespace SpecKit.Bench;

/// <summary>
/// The feature generator on 200 feature files of 10 scenarios each (target: at most 300 ms),
/// against a generator that only reads the same files.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 10)]
public class FeatureGeneratorBench
{
    private ImmutableArray<AdditionalText> _features;
    private Compilation _compilation = null!;

    [GlobalSetup]
    public void Setup()
    {
        _features = Enumerable.Range(0, 200).Select(f => (AdditionalText)new InMemoryText($"/bench/features/f{f}.feature", FeatureText.Make(f, 10))).ToImmutableArray();
        _compilation = FeatureText.Compilation("bench", [FeatureText.Steps]);
    }

    [Benchmark(Baseline = true, Description = "no-op generator, same 200 features")]
    public int NoOp() => Run(new ReadOnly());

    [Benchmark(Description = "FeatureGenerator, 200 features x 10 scenarios")]
    public int Features() => Run(new FeatureGenerator());

    private int Run(IIncrementalGenerator generator)
    {
        var driver = CSharpGeneratorDriver.Create([generator.AsSourceGenerator()], additionalTexts: _features, parseOptions: new CSharpParseOptions(LanguageVersion.Latest));
        var result = driver.RunGenerators(_compilation).GetRunResult();
        if (result.Diagnostics.Length > 0)
        {
            throw new InvalidOperationException(result.Diagnostics[0].ToString());
        }

        return result.GeneratedTrees.Length;
    }

    private sealed class ReadOnly : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context) =>
            context.RegisterSourceOutput(context.AdditionalTextsProvider.Select((t, ct) => t.GetText(ct)?.Length ?? 0).Collect(), (_, _) => { });
    }
}

/// <summary>
/// 2,000 trivial scenarios run through the code the feature generator really emits (generated,
/// compiled and loaded in setup) against calling the same step methods directly. The ratio
/// and the difference per scenario are the runner's cost (target: at most 1 ms per scenario).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class ScenarioOverheadBench
{
    private const int Scenarios = 2000;
    private Action[] _generated = [];
    private Action _direct = null!;

    [GlobalSetup]
    public void Setup()
    {
        var feature = (AdditionalText)new InMemoryText("/bench/features/trivial.feature", FeatureText.Make(0, Scenarios));
        var compilation = FeatureText.Compilation("trivial", [FeatureText.Steps]);
        CSharpGeneratorDriver.Create([new FeatureGenerator().AsSourceGenerator()], additionalTexts: [feature], parseOptions: new CSharpParseOptions(LanguageVersion.Latest))
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        using var stream = new MemoryStream();
        var emit = output.Emit(stream);
        if (!emit.Success || diagnostics.Length > 0)
        {
            throw new InvalidOperationException(string.Join("\n", emit.Diagnostics.Concat(diagnostics)));
        }

        var assembly = Assembly.Load(stream.ToArray());
        var type = assembly.GetTypes().Single(t => t.Name.EndsWith("_Feature", StringComparison.Ordinal));
        var instance = Activator.CreateInstance(type)!;
        _generated = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Select(m => m.CreateDelegate<Action>(instance))
            .ToArray();
        if (_generated.Length != Scenarios)
        {
            throw new InvalidOperationException($"expected {Scenarios} tests, got {_generated.Length}");
        }

        var direct = assembly.GetType("Bench.Steps.DirectRunner")!.GetMethod("Run")!.CreateDelegate<Action<int>>();
        _direct = () => direct(Scenarios);
    }

    [Benchmark(Baseline = true, Description = "2,000 scenarios' step methods called directly")]
    public void Direct() => _direct();

    [Benchmark(Description = "2,000 generated scenarios")]
    public void Generated()
    {
        foreach (var test in _generated)
        {
            test();
        }
    }
}

internal static class FeatureText
{
    public const string Steps = """
        using SpecKit.Features;

        namespace Bench.Steps;

        [Binding]
        public sealed class TrivialSteps
        {
            [Given("step {int}")]
            public void Step(int i)
            {
            }

            [When("the step {int} runs with {string} and a gfn {int}")]
            public void Other(int i, string text, ulong gfn)
            {
            }
        }

        /// The baseline: the same step methods on a fresh binding object per scenario, nothing else.
        public static class DirectRunner
        {
            public static void Run(int scenarios)
            {
                for (var i = 0; i < scenarios; i++)
                {
                    var steps = new TrivialSteps();
                    steps.Step(1);
                    steps.Step(2);
                    steps.Step(3);
                }
            }
        }
        """;

    public static string Make(int feature, int scenarios)
    {
        var text = new StringBuilder($"@bench\nFeature: Bench feature {feature}\n  A generated feature for the benchmark.\n\n");
        for (var s = 0; s < scenarios; s++)
        {
            text.Append("  Scenario: Scenario ").Append(s).Append('\n')
                .Append("    Given step 1\n")
                .Append("    And step 2\n")
                .Append("    And step 3\n\n");
        }

        return text.ToString();
    }

    public static CSharpCompilation Compilation(string name, string[] sources) =>
        CSharpCompilation.Create(
            name,
            sources.Select(s => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest))),
            ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
                .Concat([typeof(SpecKit.Features.GivenAttribute).Assembly.Location, typeof(SpecKit.Testing.Snapshot).Assembly.Location, typeof(Xunit.FactAttribute).Assembly.Location])
                .Distinct()
                .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release));
}
