using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;

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

    public const string RacesPath = "features/explorer/clean-races.feature";

    /// <summary>
    /// A run with one RacedFaults of every RaceKind, each with some switches, so that every race's
    /// printed step is replayed as a feature (random runs need not draw them all): the fault on
    /// another vCPU and the invalidation, then logging turned on, a fetch of the log it made, and logging turned off.
    /// </summary>
    public static readonly Case Races = new(
        new VmSetup(VmKind.Ept, 2, DirtyLogMode.Bitmap, EptAd: true, NxHugePages: false, EagerSplit: true, [new SlotSetup(0, 0, 16, 1, Log: false, ReadOnly: false)], [], []),
        [
            new Touch(0, 0, 3, AccessKind.Write),
            new RacedFaults(0, 0, 4, AccessKind.Write, RaceKind.Fault, 1, 1, [1, 0, 1]),
            new RacedFaults(1, 0, 3, AccessKind.Write, RaceKind.Invalidate, 0, 2, [0, 1]),
            new RacedFaults(1, 0, 5, AccessKind.Write, RaceKind.EnableDirtyLogging, 0, 0, [0, 0, 1, 1, 0]),
            new RacedFaults(0, 0, 6, AccessKind.Write, RaceKind.FetchDirtyLog, 1, 0, [1, 1, 0]),
            new RacedFaults(1, 0, 7, AccessKind.Write, RaceKind.DisableDirtyLogging, 0, 0, [0, 1, 1, 0]),
        ]);

    /// <summary>Clean base-model runs of every kind, printed: each must pass as a feature, step for step.</summary>
    public static readonly Lazy<Dictionary<string, RunResult>> CleanRuns = new(() =>
        Enum.GetValues<VmKind>().SelectMany(kind => Enumerable.Range(0, 3).Select(i =>
        {
            var (c, seed) = Explorer.Generate(OperationGen.Cases(kind, 30), 99, i);
            return (Path: $"features/explorer/clean-{kind}-{i}.feature", Seed: seed, Run: Runner.Run(c, SpecModels.Base));
        })).Append((Path: RacesPath, Seed: "", Run: Runner.Run(Races, SpecModels.Base)))
        .ToDictionary(r => r.Path, r => r.Run, StringComparer.Ordinal));

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
