using SpecKit.Mmu;

namespace SpecKit.Explorer;

/// <summary>
/// The variants in spec/variants/ whose features show a breach of the checker's rules, the kind
/// of VM the feature runs and the rule it reports, and the one search the suite and
/// bench/SpecKit.Bench/BreachSearchBench.cs run for each: a fixed seed, a fixed number of
/// sequences and of shrinking tries, so whether the explorer finds a breach does not depend on
/// the machine's speed or load (the time it takes is the benchmark's figure).
/// </summary>
public static class BreachSearch
{
    public static readonly (string Model, VmKind Kind, string Rule)[] Breaches =
    [
        ("ClearDirtyRecordsDirty", VmKind.Ept, "dirty page reported twice"),   // features/dirty-log/no-double-reporting.feature
        ("ZapYieldWithoutFlush", VmKind.Ept, "stale translation"),             // features/notifiers/aging-and-races.feature
        ("SyncSpteLai2022", VmKind.Shadow, "#PF left a stale translation"),    // features/shadow/sync-spte.feature
    ];

    public const ulong Seed = 13;

    /// <summary>Seed 13 meets every breach well inside this (SyncSpteLai2022 near sequence 900, the slowest).</summary>
    public const int Sequences = 3000;

    public const int ShrinkTries = 500;

    /// <summary>
    /// Short sequences: every breach a feature shows takes a few steps, and shadow-paging runs are
    /// slow enough (the checker after every operation) that each shrinking try counts.
    /// </summary>
    public static readonly int[] Lengths = [6, 12, 20];

    public static ExploreOptions Options(string model)
    {
        var kind = Breaches.Single(b => b.Model == model).Kind;
        return new ExploreOptions(kind, SpecModels.Named(model))
        {
            Seed = Seed,
            Sequences = Sequences,
            ShrinkTries = ShrinkTries,
            Lengths = Lengths,
        };
    }
}
