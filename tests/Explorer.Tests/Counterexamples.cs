using SpecKit.Mmu;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// The variants whose features show a breach of the checker's rules, the kind of VM the feature
/// runs, and the rule it reports; each is searched for once (a fixed seed, at most 10 s with
/// shrinking), and the counterexamples are shared by the tests that check them.
/// </summary>
public static class Counterexamples
{
    /// <summary>
    /// The sequence lengths searched: short ones, since every breach a feature shows takes a few
    /// steps, and shadow-paging runs are slow enough (the checker after every operation) that
    /// CsCheck gets few shrinking tries in the budget.
    /// </summary>
    public static readonly int[] Lengths = [6, 12, 20];

    public static readonly (string Model, VmKind Kind, string Rule)[] Breaches =
    [
        ("ClearDirtyRecordsDirty", VmKind.Ept, "dirty page reported twice"),   // features/dirty-log/no-double-reporting.feature
        ("ZapYieldWithoutFlush", VmKind.Ept, "stale translation"),             // features/notifiers/aging-and-races.feature
        ("SyncSpteLai2022", VmKind.Shadow, "#PF left a stale translation"),    // features/shadow/sync-spte.feature
    ];

    public const int SearchSeconds = 8;

    public const int ShrinkSeconds = 2;

    private static readonly Dictionary<string, Lazy<(ExploreResult Result, TimeSpan Took)>> Found =
        Breaches.ToDictionary(b => b.Model, b => new Lazy<(ExploreResult, TimeSpan)>(() => Search(b.Model, b.Kind)));

    public static (ExploreResult Result, TimeSpan Took) Of(string model) => Found[model].Value;

    private static (ExploreResult, TimeSpan) Search(string model, VmKind kind)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = Explorer.Explore(new ExploreOptions(kind, SpecModels.Named(model))
        {
            Seed = 13,
            Time = TimeSpan.FromSeconds(SearchSeconds),
            ShrinkSeconds = ShrinkSeconds,
            Lengths = Lengths,
        });
        return (result, clock.Elapsed);
    }
}
