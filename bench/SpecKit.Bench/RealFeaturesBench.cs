using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SpecKit.Generators.Features;
using SpecKit.Generators.Features.Model;
using SpecKit.Testing.Generators;

namespace SpecKit.Bench;

/// <summary>
/// The feature generator on the repository's own features/ and the behaviour suite's step
/// definitions (tests/Behaviour), as a command-line build runs it: a fresh driver and a fresh
/// compilation each time, so nothing is cached incrementally (the edit loop's csc is a new
/// process per build). The baseline is a generator that only reads the same feature files;
/// the stages (parse, compile the step patterns, bind, emit, the step library) are measured
/// on their own against it, in the same run.
/// </summary>
/// <remarks>
/// In process, the JIT is warm and the binder's process-wide regex cache is full after the
/// first iteration, so these figures are the generator's steady-state work; a cold csc pays
/// JIT and regex construction on top (scripts/edit-loop measures that).
/// </remarks>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 10)]
public class RealFeaturesBench
{
    private ImmutableArray<AdditionalText> _features;
    private Compilation _compilation = null!;
    private BindingSet _set = null!;
    private FeatureFile[] _files = [];
    private BoundFeature[] _bound = [];

    [GlobalSetup]
    public void Setup()
    {
        var root = RepoRoot.Find();
        _features = Directory.GetFiles(Path.Combine(root, "features"), "*.feature", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(p => (AdditionalText)new InMemoryText(p, File.ReadAllText(p)))
            .ToImmutableArray();
        _compilation = BehaviourCompilation(root);

        // The binding set exactly as the pipeline builds it, taken from its tracked step.
        var driver = CSharpGeneratorDriver.Create(
            [new FeatureGenerator().AsSourceGenerator()],
            additionalTexts: _features,
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        var result = driver.RunGenerators(_compilation.Clone()).GetRunResult();
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0 || result.GeneratedTrees.Length != _features.Length + 1)
        {
            throw new InvalidOperationException($"the real features do not bind cleanly: {result.GeneratedTrees.Length} files for {_features.Length} features; {string.Join("\n", errors)}");
        }

        _set = (BindingSet)result.Results[0].TrackedSteps[TrackingNames.Bindings].Single().Outputs.Single().Value;
        _files = _features.Select(t => FeatureGenerator.Parse(t.Path, t.GetText()!.ToString())).ToArray();
        var clashes = FeatureBinder.ClassNameClashes(_files.Select(f => (f.Path, f.DisplayPath)));
        _bound = _files.Select(f => FeatureBinder.Bind(f, _set, clashes).Feature!).ToArray();
    }

    [Benchmark(Baseline = true, Description = "no-op generator, same features")]
    public int NoOp() => Run(new ReadOnly());

    [Benchmark(Description = "FeatureGenerator, real features and steps")]
    public int Generator() => Run(new FeatureGenerator());

    [Benchmark(Description = "stage: parse every feature")]
    public int Parse()
    {
        var lines = 0;
        foreach (var text in _features)
        {
            lines += FeatureGenerator.Parse(text.Path, text.GetText()!.ToString()).LineStarts.Count;
        }

        return lines;
    }

    /// <summary>A copy of the set is a new object, so nothing compiled for an earlier one is reused.</summary>
    [Benchmark(Description = "stage: compile and index the step patterns")]
    public int CompileBindings() => FeatureBinder.Compiled(_set with { }).Bindings.Count;

    /// <summary>Every feature against one set, as a build binds them: its patterns compiled once, then every step bound.</summary>
    [Benchmark(Description = "stage: compile once, bind every feature")]
    public int Bind()
    {
        var set = _set with { };
        var clashes = FeatureBinder.ClassNameClashes(_files.Select(f => (f.Path, f.DisplayPath)));
        var steps = 0;
        foreach (var file in _files)
        {
            steps += FeatureBinder.Bind(file, set, clashes).Feature!.Tests.Count;
        }

        return steps;
    }

    [Benchmark(Description = "stage: emit every feature's class")]
    public int Emit()
    {
        var length = 0;
        foreach (var feature in _bound)
        {
            length += FeatureEmitter.Emit(feature).Length;
        }

        return length;
    }

    [Benchmark(Description = "stage: the step library")]
    public int StepLibrary() => StepLibraryEmitter.Emit(_set with { }, _files).Length;

    private int Run(IIncrementalGenerator generator) =>
        CSharpGeneratorDriver.Create([generator.AsSourceGenerator()], additionalTexts: _features, parseOptions: new CSharpParseOptions(LanguageVersion.Latest))
            .RunGenerators(_compilation.Clone())
            .GetRunResult()
            .GeneratedTrees.Length;

    /// <summary>
    /// tests/Behaviour's own sources, with the SDK's implicit usings and the project's, against
    /// what the benchmark itself references (which includes everything the suite references).
    /// </summary>
    private static CSharpCompilation BehaviourCompilation(string root)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var behaviour = Path.Combine(root, "tests", "Behaviour");
        var sources = Directory.GetFiles(behaviour, "*.cs", SearchOption.AllDirectories)
            .Where(p => !Path.GetRelativePath(behaviour, p).Replace('\\', '/').Split('/').Any(d => d is "obj" or "bin"))
            .Order(StringComparer.Ordinal)
            .Select(p => CSharpSyntaxTree.ParseText(File.ReadAllText(p), parse, p))
            .Append(CSharpSyntaxTree.ParseText(
                string.Concat(new[] { "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks", "Xunit" }.Select(n => $"global using global::{n};\n")),
                parse,
                "GlobalUsings.g.cs"));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => !Path.GetFileName(p).StartsWith("SpecKit.Behaviour.Tests", StringComparison.Ordinal))
            .Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
        return CSharpCompilation.Create("SpecKit.Behaviour.Tests", sources, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
    }

    /// <summary>The compiled set and every bound step of the real features with its kind (its definition's), for <see cref="StepMatchBench"/>.</summary>
    internal (FeatureBinder.CompiledBindingSet Compiled, (StepKind Kind, string Text)[] Steps) Steps()
    {
        var steps = _bound.SelectMany(f => f.Tests).Where(t => t.Backend is null or "model").SelectMany(t => t.Row.Steps)
            .Select(s => (_set.Steps[s.Definition].Kind, s.Text))
            .ToArray();
        return (FeatureBinder.Compiled(_set), steps);
    }

    private sealed class ReadOnly : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context) =>
            context.RegisterSourceOutput(context.AdditionalTextsProvider.Select((t, ct) => t.GetText(ct)?.Length ?? 0).Collect(), (_, _) => { });
    }
}

/// <summary>
/// Finding each step's definitions: every step of the real features (outline rows filled in)
/// against the real step definitions, through the binder's index, against the binder's former
/// way (kept here as the baseline): every definition of the step's kind tried in turn.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 15)]
public class StepMatchBench
{
    private FeatureBinder.CompiledBindingSet _compiled = null!;
    private (StepKind Kind, string Text)[] _steps = [];

    [GlobalSetup]
    public void Setup()
    {
        var real = new RealFeaturesBench();
        real.Setup();
        (_compiled, _steps) = real.Steps();
    }

    [Benchmark(Baseline = true, Description = "every definition of the kind tried (before the index)")]
    public int Linear()
    {
        var found = 0;
        foreach (var (kind, text) in _steps)
        {
            var matches = new List<(FeatureBinder.CompiledBinding Binding, System.Text.RegularExpressions.Match Match)>();
            foreach (var candidate in _compiled.Bindings)
            {
                if (candidate.Binding.Kind != kind)
                {
                    continue;
                }

                var match = candidate.Regex.Match(text);
                if (match.Success)
                {
                    matches.Add((candidate, match));
                }
            }

            found += matches.Count;
        }

        return found;
    }

    [Benchmark(Description = "the index's candidates tried")]
    public int Indexed()
    {
        var found = 0;
        foreach (var (kind, text) in _steps)
        {
            found += _compiled.Matches(text, kind).Count;
        }

        return found;
    }
}
