using System.CommandLine;
using System.Globalization;
using SpecKit.Explorer;
using SpecKit.Mmu;

namespace SpecKit.Cli;

/// <summary>
/// <c>speckit explore --model X --mmu ept|npt|shadow|tdx --seconds 60 [--seed N] [--shard i/n]</c>:
/// random operation sequences under a model (src/Explorer), on every core, with a progress
/// line; the first counterexample is shrunk and written as a .feature. With <c>--against base</c>
/// the two models are compared instead, and the first differing step is written.
/// </summary>
internal sealed class ExploreCommand : ICliCommand
{
    public Command Create()
    {
        var model = new Option<string>("--model") { Description = "The model to explore (a name of SpecKit.Mmu.SpecModelNames, or one with a Lock edit: base+ClearDirtyPtMasked.Lock=Read)", DefaultValueFactory = _ => "base" };
        var mmu = new Option<string>("--mmu") { Description = "ept, npt, shadow or tdx", DefaultValueFactory = _ => "ept" };
        var seconds = new Option<int>("--seconds") { Description = "How long to explore", DefaultValueFactory = _ => 60 };
        var sequences = new Option<long?>("--sequences") { Description = "At most this many sequences (of this shard)" };
        var seed = new Option<ulong>("--seed") { Description = "The run's seed: sequence i is generated from (seed, i) alone", DefaultValueFactory = _ => 1 };
        var shard = new Option<string>("--shard") { Description = "i/n: this run takes the sequences i, i+n, i+2n, ... (a CI matrix runs n of them)", DefaultValueFactory = _ => "0/1" };
        var threads = new Option<int>("--threads") { Description = "Threads (each takes every t-th sequence of the shard)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var maxSteps = new Option<int>("--max-steps") { Description = "The longest sequence", DefaultValueFactory = _ => 50 };
        var rerun = new Option<string?>("--case") { Description = "Rerun one case by the CsCheck seed a counterexample names (with its --max-steps)" };
        var against = new Option<string?>("--against") { Description = "Compare with this model instead of checking alone (e.g. base)" };
        var race = new Option<string?>("--race") { Description = "Under TDP, race faults only against this RaceKind, drawn often (e.g. HarvestAndResetDirtyRings)" };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Where to write the counterexample (default: TestResults/explorer/<model>-<mmu>-<seed>.feature)" };
        var command = new Command("explore", "Explore random operation sequences under a model; shrink and print the first counterexample as a .feature")
        {
            model, mmu, seconds, sequences, seed, shard, threads, maxSteps, rerun, against, race, output,
        };
        command.SetAction(r => Run(new Arguments(
            r.GetValue(model)!, r.GetValue(mmu)!, r.GetValue(seconds), r.GetValue(sequences), r.GetValue(seed), r.GetValue(shard)!,
            Math.Max(1, r.GetValue(threads)), r.GetValue(maxSteps), r.GetValue(rerun), r.GetValue(against), r.GetValue(output), r.GetValue(race))));
        return command;
    }

    internal sealed record Arguments(string Model, string Mmu, int Seconds, long? Sequences, ulong Seed, string Shard, int Threads, int MaxSteps, string? Case, string? Against, FileInfo? Output, string? Race = null);

    internal static int Run(Arguments a)
    {
        SpecModelInfo model;
        VmKind kind;
        int shard, shards;
        RaceKind? race;
        try
        {
            model = LockMutants.Named(a.Model);
            race = a.Race is { } r ? Enum.Parse<RaceKind>(r, ignoreCase: true) : null;
            kind = VmKinds.Parse(a.Mmu);
            var parts = a.Shard.Split('/');
            (shard, shards) = (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
            if (shards < 1 || shard < 0 || shard >= shards)
            {
                throw new FormatException($"--shard {a.Shard}: i/n with 0 <= i < n");
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IndexOutOfRangeException)
        {
            Console.Error.WriteLine($"speckit explore: {e.Message}");
            return 2;
        }

        if (a.Case is { } caseSeed)
        {
            var c = SpecKit.Explorer.Explorer.Regenerate(OperationGen.Cases(kind, a.MaxSteps, race), caseSeed);
            var run = Runner.Run(c, model);
            Console.WriteLine(run.Failure is null ? $"case {caseSeed}: {run.Steps.Count} steps, the checker reports nothing" : FeaturePrinter.Counterexample(run, caseSeed, a.Seed, -1, a.MaxSteps, race));
            return run.Failure is null ? 0 : 1;
        }

        var file = a.Output?.FullName ?? Path.Combine("TestResults", "explorer", $"{model.Name}-{kind.ToString().ToLowerInvariant()}-{a.Seed}-{shard}of{shards}.feature");
        return a.Against is { } other ? Compare(a, SpecModels.Named(other), model, kind, file) : Explore(a, model, kind, shard, shards, file, race);
    }

    private static int Explore(Arguments a, SpecModelInfo model, VmKind kind, int shard, int shards, string file, RaceKind? race)
    {
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        var figures = new ExploreProgress[a.Threads];
        var found = new Counterexample?[a.Threads];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var workers = Enumerable.Range(0, a.Threads).Select(t => Task.Run(() =>
        {
            // Thread t of shard i/n takes the sequences i + n*t, i + n*(t + threads), ...: sub-shards of the shard.
            var result = SpecKit.Explorer.Explorer.Explore(new ExploreOptions(kind, model)
            {
                Seed = a.Seed,
                Shard = shard + (shards * t),
                Shards = shards * a.Threads,
                Time = TimeSpan.FromSeconds(a.Seconds),
                Sequences = a.Sequences is { } n ? (n + a.Threads - 1 - t) / a.Threads : long.MaxValue,
                MaxSteps = a.MaxSteps,
                Race = race,
                Cancel = stop.Token,
                Progress = p => figures[t] = p,
            });
            figures[t] = result.Figures;
            if (result.Found is { } f)
            {
                found[t] = f;
                stop.Cancel();
            }
        })).ToArray();

        while (!Task.WaitAll(workers, TimeSpan.FromSeconds(1)))
        {
            Progress(figures, clock.Elapsed, final: false);
        }

        Progress(figures, clock.Elapsed, final: true);
        if (found.FirstOrDefault(f => f is not null) is not { } counterexample)
        {
            Console.WriteLine($"{model.Name} on {kind}: the checker reported nothing (seed {a.Seed}, shard {shard}/{shards})");
            return 0;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        File.WriteAllText(file, counterexample.Feature);
        Console.WriteLine($"{counterexample.Failure} ({counterexample.Run.Steps.Count} steps, shrunk from {counterexample.StepsBeforeShrinking})");
        if (counterexample.ShrinkCapped)
        {
            Console.WriteLine("shrinking stopped at its time cap before its last try: another run may shrink this failure further");
        }

        Console.WriteLine($"counterexample: {file}");
        return 1;
    }

    private static int Compare(Arguments a, SpecModelInfo @base, SpecModelInfo variant, VmKind kind, string file)
    {
        var (figures, difference) = Differential.Explore(kind, @base, variant, a.Seed, a.Sequences ?? long.MaxValue, TimeSpan.FromSeconds(a.Seconds), maxSteps: a.MaxSteps);
        Console.WriteLine(figures);
        if (difference is null)
        {
            Console.WriteLine($"{variant.Name} agrees with {@base.Name} on {kind}");
            return 0;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        File.WriteAllText(file, difference.Feature);
        Console.WriteLine($"first difference at step {difference.Step + 1}: {difference.Variant?.Step ?? difference.Base?.Step}");
        Console.WriteLine($"difference: {file}");
        return 1;
    }

    private static void Progress(ExploreProgress?[] figures, TimeSpan elapsed, bool final)
    {
        var all = figures.Where(f => f is not null).ToList();
        var total = new ExploreProgress(all.Sum(f => f!.Sequences), all.Sum(f => f!.Steps), elapsed, all.Sum(f => f!.Violations));
        Console.Error.Write($"\r{total}   ");
        if (final)
        {
            Console.Error.WriteLine();
        }
    }
}
