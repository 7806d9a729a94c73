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

    public const string RingRacesPath = "features/explorer/clean-ring-races.feature";

    /// <summary>
    /// A run with one RacedFaults of every RaceKind a VM with a dirty bitmap runs, each with some
    /// switches, so that every race's printed step is replayed as a feature (random runs need not
    /// draw them all): the fault on another vCPU, the invalidation and aging, then logging turned
    /// on, a fetch of the log it made, KVM_CLEAR_DIRTY_LOG of some pages and of a misaligned
    /// first_page (-EINVAL), logging turned off, a migration and a KSM merge of touched pages,
    /// write tracking added, and the mm's release.
    /// </summary>
    public static readonly Case Races = new(
        new VmSetup(VmKind.Ept, 2, DirtyLogMode.Bitmap, EptAd: true, NxHugePages: false, EagerSplit: true, [new SlotSetup(0, 0, 16, 1, Log: false, ReadOnly: false)], [], []),
        [
            new Touch(0, 0, 3, AccessKind.Write),
            new RacedFaults(0, 0, 4, AccessKind.Write, RaceKind.Fault, 1, 1, [1, 0, 1]),
            new RacedFaults(1, 0, 3, AccessKind.Write, RaceKind.Invalidate, 0, 2, [0, 1]),
            new RacedFaults(0, 0, 8, AccessKind.Read, RaceKind.Age, 1, 2, [1, 0, 1]),
            new RacedFaults(1, 0, 5, AccessKind.Write, RaceKind.EnableDirtyLogging, 0, 0, [0, 0, 1, 1, 0]),
            new RacedFaults(0, 0, 6, AccessKind.Write, RaceKind.FetchDirtyLog, 1, 0, [1, 1, 0]),
            new RacedFaults(1, 0, 9, AccessKind.Write, RaceKind.ClearDirtyLog, 0, 0, [0, 1, 1, 0, 0, 0, 1], FirstPage: 0, NumPages: RacedFaults.RestOfSlot, Bitmap: [0x2ff]),
            new RacedFaults(0, 0, 10, AccessKind.Write, RaceKind.ClearDirtyLog, 1, 0, [1, 0], FirstPage: 3, NumPages: 13, Bitmap: [ulong.MaxValue]),
            new RacedFaults(1, 0, 7, AccessKind.Write, RaceKind.DisableDirtyLogging, 0, 0, [0, 1, 1, 0]),
            new RacedFaults(0, 0, 3, AccessKind.Read, RaceKind.Migrate, 1, 0, [1, 1, 0]),
            new RacedFaults(1, 0, 4, AccessKind.Read, RaceKind.KsmMerge, 0, 0, [0, 1]),
            new RacedFaults(0, 0, 11, AccessKind.Write, RaceKind.WriteTrackAdd, 1, 0, [0, 0, 1]),
            new RacedFaults(1, 0, 12, AccessKind.Write, RaceKind.Release, 0, 0, [1, 0, 0, 1]),
        ]);

    /// <summary>
    /// The races of a VM with the dirty ring: a harvest and reset against a write fault on a page
    /// already pushed and on a new one, a fault against another vCPU's, aging, and
    /// KVM_CLEAR_DIRTY_LOG, which the ring refuses (-ENXIO).
    /// </summary>
    public static readonly Case RingRaces = new(
        new VmSetup(VmKind.Ept, 2, DirtyLogMode.Ring, EptAd: true, NxHugePages: false, EagerSplit: true, [new SlotSetup(0, 0, 16, 1, Log: true, ReadOnly: false)], [], []),
        [
            new Touch(0, 0, 2, AccessKind.Write),
            new RacedFaults(1, 0, 2, AccessKind.Write, RaceKind.HarvestAndResetDirtyRings, 0, 0, [0, 1, 1, 0]),
            new RacedFaults(0, 0, 5, AccessKind.Write, RaceKind.HarvestAndResetDirtyRings, 1, 0, [0, 0, 0, 0, 1, 1, 1, 0]),
            new RacedFaults(0, 0, 6, AccessKind.Write, RaceKind.Fault, 1, 1, [1, 0]),
            new RacedFaults(1, 0, 6, AccessKind.Write, RaceKind.Age, 0, 2, [0, 1]),
            new RacedFaults(0, 0, 8, AccessKind.Write, RaceKind.ClearDirtyLog, 1, 0, [1], FirstPage: 0, NumPages: RacedFaults.RestOfSlot),
        ]);

    /// <summary>
    /// A search that shows a RaceKind live: under <see cref="Model"/> (a variant, or a Lock mutant
    /// by <see cref="LockMutants.Named"/>), with that race drawn alone, the explorer meets
    /// <see cref="Rule"/> through a step containing <see cref="Step"/>, from a fixed seed.
    /// </summary>
    public sealed record RaceSearch(RaceKind Kind, string Model, ulong Seed, string Rule, string Step);

    /// <summary>
    /// The races past the first five and what each exposes: the reset or a clear under the read
    /// side of mmu_lock re-protecting between a fault's dirty push and its install
    /// (features/concurrency/dirty-ring.feature, clear-dirty-log-range.feature), KSM's standalone
    /// .change_pte() without the sequence bump (change-pte-race.feature), the release's walk
    /// advancing past the top-level entry it yielded at (zap-all-yield.feature), write tracking
    /// under the read side (write-tracking.feature), and an invalidation under the read side.
    /// Aging has none: no model the spec makes breaks a rule through it (RaceTests).
    /// </summary>
    public static readonly RaceSearch[] RaceSearches =
    [
        new(RaceKind.HarvestAndResetDirtyRings, "base+ClearDirtyPtMasked.Lock=Read", 26, "dirty page lost", "while userspace harvests and resets the dirty rings"),
        new(RaceKind.ClearDirtyLog, "base+ClearDirtyPtMasked.Lock=Read", 11, "dirty page lost", "while KVM_CLEAR_DIRTY_LOG on memslot"),
        new(RaceKind.KsmMerge, "ChangePteStandaloneNoSeq", 30, "SPTE maps a stale host page", "while KSM merges the page behind gfn"),
        new(RaceKind.Release, "TdpIterAdvanceAfterYield2021", 26, "SPTE survived kvm_tdp_mmu_zap_all", "while the mm is released"),
        new(RaceKind.WriteTrackAdd, "base+WriteProtectGfn.Lock=Read", 26, "write-tracked gfn writable", "while write tracking is added for gfn"),
        new(RaceKind.Migrate, "base+UnmapGfnRange.Lock=Read", 2, "lockdep", "while the host migrates the page behind gfn"),
    ];

    /// <summary>The sequences each race search takes at most (each meets its breach well inside: the slowest, ClearDirtyLog, at 235).</summary>
    public const int RaceSequences = 1500;

    /// <summary>The sequences the base runs under each race alone (<see cref="BaseModelTests"/> runs the whole vocabulary).</summary>
    public const int RaceBaseSequences = 500;

    public static ExploreOptions RaceOptions(RaceSearch search) => new(VmKind.Ept, LockMutants.Named(search.Model))
    {
        Seed = search.Seed,
        Sequences = RaceSequences,
        Race = search.Kind,
        Lengths = BreachSearch.Lengths,
        ShrinkTries = BreachSearch.ShrinkTries,
    };

    private static readonly Dictionary<RaceKind, Lazy<(ExploreResult Result, TimeSpan Took)>> FoundRaces =
        RaceSearches.ToDictionary(s => s.Kind, s => new Lazy<(ExploreResult, TimeSpan)>(() =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = Explorer.Explore(RaceOptions(s));
            return (result, clock.Elapsed);
        }));

    public static (ExploreResult Result, TimeSpan Took) OfRace(RaceKind kind) => FoundRaces[kind].Value;

    public static string RacePathOf(RaceKind kind) => $"features/explorer/race-{kind}.feature";

    /// <summary>Clean base-model runs of every kind, printed: each must pass as a feature, step for step.</summary>
    public static readonly Lazy<Dictionary<string, RunResult>> CleanRuns = new(() =>
        Enum.GetValues<VmKind>().SelectMany(kind => Enumerable.Range(0, 3).Select(i =>
        {
            var (c, seed) = Explorer.Generate(OperationGen.Cases(kind, 30), 99, i);
            return (Path: $"features/explorer/clean-{kind}-{i}.feature", Seed: seed, Run: Runner.Run(c, SpecModels.Base));
        })).Append((Path: RacesPath, Seed: "", Run: Runner.Run(Races, SpecModels.Base)))
        .Append((Path: RingRacesPath, Seed: "", Run: Runner.Run(RingRaces, SpecModels.Base)))
        .ToDictionary(r => r.Path, r => r.Run, StringComparer.Ordinal));

    /// <summary>Every printed feature of the suite, compiled once (one Roslyn compilation) and run: the failure message by path.</summary>
    public static readonly Lazy<Dictionary<string, string?>> Ran = new(() =>
    {
        var features = BreachSearch.Breaches.Select(b => (Path: PathOf(b.Model), Of(b.Model).Result.Found?.Feature))
            .Append((Path: V19Path, V19Difference.Value.Found?.Feature))
            .Concat(RaceSearches.Select(r => (Path: RacePathOf(r.Kind), OfRace(r.Kind).Result.Found?.Feature)))
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
