using SpecKit.Mmu;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// The variants whose features show a breach of the checker's rules, the kind of VM the feature
/// runs, and the rule it reports (<see cref="BreachSearch"/>); each is searched for once, and the
/// counterexamples are shared by the tests that check them.
/// </summary>
public static class Counterexamples
{
    private static readonly Dictionary<string, Lazy<(ExploreResult Result, TimeSpan Took)>> Found =
        BreachSearch.Breaches.ToDictionary(b => b.Model, b => new Lazy<(ExploreResult, TimeSpan)>(() => Search(b.Model)));

    public static (ExploreResult Result, TimeSpan Took) Of(string model) => Found[model].Value;

    /// <summary>v19's TDX design against the merged one (seed 003): the first difference, printed.</summary>
    public static readonly Lazy<(ExploreProgress Figures, Difference? Found)> V19Difference = new(() =>
        Differential.Explore(VmKind.Tdx, SpecModels.Base, SpecModels.Named("TdxZapPrivateV19"), seed: 3, sequences: 5000, time: null, shrinkTries: 300));

    public static string PathOf(string model) => $"features/explorer/{model}.feature";

    public const string V19Path = "features/explorer/TdxZapPrivateV19-difference.feature";

    /// <summary>Clean base-model runs of every kind, printed: each must pass as a feature, step for step.</summary>
    public static readonly Lazy<Dictionary<string, RunResult>> CleanRuns = new(() =>
        Enum.GetValues<VmKind>().SelectMany(kind => Enumerable.Range(0, 3).Select(i =>
        {
            var (c, seed) = Explorer.Generate(OperationGen.Cases(kind, 30), 99, i);
            return (Path: $"features/explorer/clean-{kind}-{i}.feature", Seed: seed, Run: Runner.Run(c, SpecModels.Base));
        })).ToDictionary(r => r.Path, r => r.Run, StringComparer.Ordinal));

    /// <summary>Every printed feature of the suite, compiled once (one Roslyn compilation) and run: the failure message by path.</summary>
    public static readonly Lazy<Dictionary<string, string?>> Ran = new(() =>
    {
        var features = BreachSearch.Breaches.Select(b => (Path: PathOf(b.Model), Of(b.Model).Result.Found?.Feature))
            .Append((Path: V19Path, V19Difference.Value.Found?.Feature))
            .Concat(CleanRuns.Value.Select(r => (Path: r.Key, Feature: (string?)FeaturePrinter.Clean(r.Value, r.Key))))
            .Where(f => f.Feature is not null)
            .ToDictionary(f => f.Path, f => f.Feature!);
        return Support.PrintedFeatures.Run(features);
    });

    private static (ExploreResult, TimeSpan) Search(string model)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = Explorer.Explore(BreachSearch.Options(model));
        return (result, clock.Elapsed);
    }
}
