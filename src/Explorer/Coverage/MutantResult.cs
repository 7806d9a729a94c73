using System.Diagnostics;
using System.Text.Json;
using SpecKit.Mmu;

namespace SpecKit.Explorer.Coverage;

/// <summary>The explorer's first counterexample under a mutant: the kind of VM, the checker's rule and message, the shrunk steps.</summary>
public sealed record ExplorerKill(string Kind, string Rule, string Message, string CaseSeed, IReadOnlyList<string> Steps);

/// <summary>What killed one mutant, if anything.</summary>
public sealed record MutantResult(string Id)
{
    /// <summary>The spec generator refused the mutant (its diagnostic): the validator kills it before any model exists.</summary>
    public string? Rejected { get; init; }

    /// <summary>The scenarios that differ under the mutant (SPECKIT_MODEL's verdicts): feature file:line and name.</summary>
    public IReadOnlyList<string> Scenarios { get; init; } = [];

    /// <summary>How many scenarios ran under the mutant (the sweep stops at the first that differs).</summary>
    public int ScenariosRun { get; init; }

    /// <summary>The behaviour run failed in a way its verdicts do not list (tests that are not scenarios), by test name.</summary>
    public IReadOnlyList<string> FailedTests { get; init; } = [];

    /// <summary>Set when the behaviour suite did not run under the mutant (it was not asked for, or could not start).</summary>
    public string? BehaviourNotRun { get; init; }

    public ExplorerKill? Explorer { get; init; }

    /// <summary>How many sequences the explorer ran under the mutant, over every kind of VM it tried.</summary>
    public long ExploredSequences { get; init; }

    public bool ExplorerRan { get; init; }

    /// <summary>
    /// Counterexamples the explorer found under the mutant that the base model fails too (its
    /// shrunk case run under the base): they say nothing of the mutated line, so they kill nothing.
    /// </summary>
    public IReadOnlyList<string> ExplorerAlsoUnderBase { get; init; } = [];

    /// <summary>Scenarios that differ under the mutant and under the control too (<see cref="Mutants.Control"/>): not counted.</summary>
    public IReadOnlyList<string> Uncounted { get; init; } = [];

    /// <summary>
    /// The kernel backend's tests that fail with the mutant applied to the base spec (<see cref="KernelStage"/>):
    /// the real kernel's walker judging the bits of a layout the model reads only through the base's types.
    /// </summary>
    public IReadOnlyList<string> KernelTests { get; init; } = [];

    /// <summary>The kernel stage judged the mutant (its tests ran with it applied to the base).</summary>
    public bool KernelRan { get; init; }

    /// <summary>Why the kernel stage gave a mutant it judges no verdict (no /dev/kvm, --no-kernel, its build failed).</summary>
    public string? KernelNotRun { get; init; }

    public bool KilledByScenarios => Scenarios.Count > 0 || FailedTests.Count > 0;

    public bool Killed => Rejected is not null || KilledByScenarios || Explorer is not null || KernelTests.Count > 0;
}

/// <summary>The whole run's results, as saved between the stages (TestResults/mutate/results.json).</summary>
public sealed record MutationResults(IReadOnlyList<MutantResult> Mutants, TimeSpan Took, string Budget)
{
    /// <summary>The control's run (<see cref="Coverage.Mutants.Control"/>): what differs under the base under another name.</summary>
    public MutantResult? Control { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>
    /// Mutant <paramref name="id"/>'s results as they count: the scenarios and tests that differ
    /// under the control too are moved to <see cref="MutantResult.Uncounted"/>, since they differ
    /// for a reason that is not the mutated line.
    /// </summary>
    public MutantResult? Of(string id)
    {
        var result = Mutants.FirstOrDefault(m => m.Id == id);
        if (result is null || Control is not { } control)
        {
            return result;
        }

        var uncounted = result.Scenarios.Intersect(control.Scenarios).Concat(result.FailedTests.Intersect(control.FailedTests)).ToList();
        return uncounted.Count == 0 ? result : result with
        {
            Scenarios = [.. result.Scenarios.Except(control.Scenarios)],
            FailedTests = [.. result.FailedTests.Except(control.FailedTests)],
            Uncounted = uncounted,
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static MutationResults FromJson(string json) => JsonSerializer.Deserialize<MutationResults>(json, Json)!;
}

/// <summary>
/// The explorer's half of a mutant's run, in a process whose models include the mutant (the
/// scratch build, where every mutant is a compiled variant): each kind of VM in turn, from one
/// fixed seed and a fixed number of sequences (so the verdict does not depend on the machine's
/// load), until the checker reports something.
/// </summary>
public static class MutantExplorer
{
    /// <summary>The kinds of VM tried, in order, and the sequences each gets: shadow paging's runs are about 20x slower.</summary>
    public static IReadOnlyList<(VmKind Kind, long Sequences)> Budget(long tdpSequences) =>
        [(VmKind.Ept, tdpSequences), (VmKind.Npt, tdpSequences), (VmKind.Tdx, tdpSequences), (VmKind.Shadow, Math.Max(1, tdpSequences / 8))];

    public const ulong Seed = 2026;

    public static MutantResult Explore(SpecModelInfo model, long tdpSequences)
    {
        long sequences = 0;
        var @base = SpecModels.Named("base");
        var alsoUnderBase = new List<string>();
        foreach (var (kind, n) in Budget(tdpSequences))
        {
            var result = SpecKit.Explorer.Explorer.Explore(new ExploreOptions(kind, model) { Seed = Seed, Sequences = n, ShrinkTries = 200 });
            sequences += result.Figures.Sequences;
            if (result.Found is not { } found)
            {
                continue;
            }

            if (Runner.Run(found.Case, @base).Failure is { } baseFailure)
            {
                // The base fails the same case: a defect of the model or the checker, not of the mutated line.
                alsoUnderBase.Add($"{kind.ToString().ToLowerInvariant()}, case {found.CaseSeed}: under the mutant {found.Failure.Rule}, under the base {baseFailure.Rule}");
                continue;
            }

            var steps = FeaturePrinter.Lines(found.Run.Given, found.Run.Steps).Select(l => $"{l.Keyword} {l.Text}").ToList();
            return new MutantResult(model.Name)
            {
                ExplorerRan = true,
                ExploredSequences = sequences,
                ExplorerAlsoUnderBase = alsoUnderBase,
                Explorer = new ExplorerKill(kind.ToString().ToLowerInvariant(), found.Failure.Rule, found.Failure.Message, found.CaseSeed, steps),
            };
        }

        return new MutantResult(model.Name) { ExplorerRan = true, ExploredSequences = sequences, ExplorerAlsoUnderBase = alsoUnderBase };
    }

    /// <summary>Every mutant in <paramref name="ids"/>, on <paramref name="threads"/> threads, in the order given.</summary>
    public static List<MutantResult> ExploreAll(IReadOnlyList<string> ids, long tdpSequences, int threads, Action<string>? log = null)
    {
        var results = new MutantResult[ids.Count];
        var clock = Stopwatch.StartNew();
        var done = 0;
        Parallel.For(0, ids.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            results[i] = Explore(SpecModels.Named(ids[i]), tdpSequences);
            var n = Interlocked.Increment(ref done);
            log?.Invoke($"explorer {n}/{ids.Count} {ids[i]}: {(results[i].Explorer is { } k ? $"{k.Kind} {k.Rule}" : "nothing")} ({clock.Elapsed.TotalSeconds:F0} s)");
        });
        return [.. results];
    }
}
