using System.Diagnostics;
using CsCheck;
using SpecKit.Mmu;

namespace SpecKit.Explorer;

/// <summary>What to explore: a kind of VM under a model, from a seed, for a number of sequences or a time.</summary>
public sealed record ExploreOptions(VmKind Kind, SpecModelInfo Model)
{
    /// <summary>The run's seed: sequence i is generated from (Seed, i) alone, so any run or shard reruns from it.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>At most this many sequences (of this shard).</summary>
    public long Sequences { get; init; } = long.MaxValue;

    /// <summary>At most this long (null: until <see cref="Sequences"/>).</summary>
    public TimeSpan? Time { get; init; }

    /// <summary>This run takes sequences i with i % Shards == Shard (<c>--shard i/n</c>).</summary>
    public int Shard { get; init; }

    public int Shards { get; init; } = 1;

    public int MaxSteps { get; init; } = 50;

    /// <summary>Under TDP, races of this kind only, drawn often (<see cref="OperationGen.Operations(VmKind, RaceKind?)"/>); null: the whole vocabulary.</summary>
    public RaceKind? Race { get; init; }

    /// <summary>
    /// The sequence lengths sequence i may have, by i mod their count: short sequences first
    /// find the breaches that need few steps (and CsCheck shrinks them quickest), long ones
    /// the rest. Each is capped at <see cref="MaxSteps"/>.
    /// </summary>
    public int[] Lengths { get; init; } = [10, 20, 50];

    /// <summary>The longest sequence sequence <paramref name="index"/> may have.</summary>
    public int MaxStepsOf(long index) => Math.Min(MaxSteps, Lengths[(int)(index % Lengths.Length)]);

    /// <summary>How many candidates shrinking tries (<see cref="Shrinker"/>): the budget that makes a shrunk case reproducible.</summary>
    public int ShrinkTries { get; init; } = 500;

    /// <summary>A safety cap on shrinking's time only; a run that hits it shrank less than <see cref="ShrinkTries"/> allows.</summary>
    public TimeSpan ShrinkCap { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Called about every <see cref="ProgressEvery"/> with the figures so far.</summary>
    public Action<ExploreProgress>? Progress { get; init; }

    public TimeSpan ProgressEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Stops the run between sequences (another thread of a run found a counterexample, or Ctrl-C).</summary>
    public CancellationToken Cancel { get; init; }
}

public sealed record ExploreProgress(long Sequences, long Steps, TimeSpan Elapsed, int Violations)
{
    public double StepsPerSecond => Elapsed.TotalSeconds > 0 ? Steps / Elapsed.TotalSeconds : 0;

    public override string ToString() =>
        $"{Sequences:N0} sequences, {Steps:N0} steps, {StepsPerSecond:N0} steps/s, {Violations} violation(s), {Elapsed.TotalSeconds:F1} s";
}

/// <summary>
/// A failing case, shrunk: the case, its own CsCheck seed (it regenerates exactly this case), its
/// run, the feature it prints as, and whether shrinking stopped at its time cap (then another run
/// may shrink the same failure further).
/// </summary>
public sealed record Counterexample(Case Case, string CaseSeed, RunResult Run, long FoundAt, int StepsBeforeShrinking, string Feature, bool ShrinkCapped)
{
    public Failure Failure => Run.Failure!;
}

public sealed record ExploreResult(ExploreProgress Figures, Counterexample? Found);

/// <summary>
/// The explorer: generates cases for one kind of VM from the run's seed (CsCheck's PCG, one
/// stream per sequence index, so shards split the index range), runs each under the model with
/// the checker after every step, and on the first failure lets CsCheck shrink it (by its size,
/// keeping the same checker rule) and prints the shrunk case as a feature.
/// </summary>
public static class Explorer
{
    public static ExploreResult Explore(ExploreOptions options)
    {
        var gens = options.Lengths.Select(l => OperationGen.Cases(options.Kind, Math.Min(options.MaxSteps, l), options.Race)).ToArray();
        var clock = Stopwatch.StartNew();
        var nextProgress = options.ProgressEvery;
        long sequences = 0, steps = 0;
        for (long k = 0; sequences < options.Sequences; k++)
        {
            if ((options.Time is { } limit && clock.Elapsed >= limit) || options.Cancel.IsCancellationRequested)
            {
                break;
            }

            var index = options.Shard + (k * options.Shards);
            var gen = gens[(int)(index % gens.Length)];
            var (c, caseSeed) = Generate(gen, options.Seed, index);
            var run = Runner.Run(c, options.Model);
            sequences++;
            steps += run.Steps.Count;
            if (run.Failure is { } failure)
            {
                var shrunk = Shrink(gen, caseSeed, options.Model, failure, options.ShrinkTries, options.ShrinkCap);
                var found = new Counterexample(shrunk.Case, shrunk.Seed, shrunk.Run, index, run.Steps.Count,
                    FeaturePrinter.Counterexample(shrunk.Run, shrunk.Seed, options.Seed, index, options.MaxStepsOf(index), options.Race), shrunk.Capped);
                var figures = new ExploreProgress(sequences, steps, clock.Elapsed, 1);
                options.Progress?.Invoke(figures);
                return new ExploreResult(figures, found);
            }

            if (options.Progress is { } progress && clock.Elapsed >= nextProgress)
            {
                progress(new ExploreProgress(sequences, steps, clock.Elapsed, 0));
                nextProgress = clock.Elapsed + options.ProgressEvery;
            }
        }

        return new ExploreResult(new ExploreProgress(sequences, steps, clock.Elapsed, 0), null);
    }

    /// <summary>Case <paramref name="index"/> of the run with seed <paramref name="seed"/>, and the CsCheck seed that regenerates it.</summary>
    public static (Case Case, string CaseSeed) Generate(Gen<Case> gen, ulong seed, long index)
    {
        var pcg = new PCG(1, SplitMix(seed ^ SplitMix((ulong)index)));
        var caseSeed = pcg.ToString();
        return (gen.Generate(pcg, null, out _), caseSeed);
    }

    /// <summary>The case CsCheck seed <paramref name="caseSeed"/> generates.</summary>
    public static Case Regenerate(Gen<Case> gen, string caseSeed) => gen.Generate(PCG.Parse(caseSeed), null, out _);

    /// <summary>
    /// CsCheck shrinks from the failing case's seed (<see cref="Shrinker"/>): it keeps each case
    /// that is smaller (by CsCheck's size: fewer operations, smaller numbers) and still fails with
    /// the same rule. The smallest is rerun from its own seed, so what is printed is what that seed makes.
    /// </summary>
    public static (Case Case, string Seed, RunResult Run, bool Capped) Shrink(Gen<Case> gen, string caseSeed, SpecModelInfo model, Failure failure, int tries, TimeSpan cap)
    {
        bool SameFailure(Case c) => Runner.Run(c, model).Failure is { } f && f.Rule == failure.Rule && f.IsException == failure.IsException;

        var (seed, capped) = Shrinker.Shrink(gen, caseSeed, SameFailure, tries, cap);
        var shrunk = Regenerate(gen, seed);
        return (shrunk, seed, Runner.Run(shrunk, model), capped);
    }

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
        return x ^ (x >> 31);
    }
}
