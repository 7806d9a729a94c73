using System.CommandLine;
using System.Diagnostics;
using SpecKit.Explorer.Coverage;

namespace SpecKit.Cli;

/// <summary>
/// <c>speckit mutate [-o docs/spec-coverage.md] [--only Text] [--sequences N] [--list]</c>: the
/// spec-coverage report. Every mutant of the spec (src/Explorer/Coverage/Mutants.cs) is built as a
/// variant in one build of a scratch copy; each is run under the explorer (in the scratch build's
/// own <c>speckit</c>, where the mutants are models) and under the behaviour suite
/// (<c>SPECKIT_MODEL</c>); the guest PTE layout's swaps, which no model reads, are judged by the
/// real kernel (<see cref="KernelStage"/>); and the verdicts become docs/spec-coverage.md.
/// </summary>
internal sealed class MutateCommand : ICliCommand
{
    public Command Create()
    {
        var output = new Option<FileInfo?>("--output", "-o") { Description = "The report to write (default: docs/spec-coverage.md)" };
        var only = new Option<string?>("--only") { Description = "Only the mutants whose name contains this (e.g. ZapLeafs_Flush)" };
        var shard = new Option<string?>("--shard") { Description = "Only shard i of n (i/n, from 0): every n-th mutant from the i-th, so n runs cover them all" };
        var list = new Option<bool>("--list") { Description = "List the mutants and stop" };
        var sequences = new Option<long>("--sequences") { Description = "Explorer sequences per TDP kind of VM (EPT, NPT, TDX) for each mutant; shadow paging gets an eighth", DefaultValueFactory = _ => 300 };
        var threads = new Option<int>("--threads") { Description = "Explorer threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var allScenarios = new Option<bool>("--all-scenarios") { Description = "Run every scenario under every mutant (default: stop at the first that differs)" };
        var noBehaviour = new Option<bool>("--no-behaviour") { Description = "Skip the behaviour suite (the explorer's verdicts only)" };
        var noExplorer = new Option<bool>("--no-explorer") { Description = "Skip the explorer (the behaviour suite's verdicts only)" };
        var noKernel = new Option<bool>("--no-kernel") { Description = "Skip the kernel stage (the guest PTE layout's swaps judged on /dev/kvm, each applied to the base and built)" };
        var scratch = new Option<DirectoryInfo?>("--scratch") { Description = "The scratch copy (default: TestResults/mutate/repo; kept, so the next build is incremental)" };
        var fromResults = new Option<bool>("--from-results") { Description = "Write the report again from the last run's TestResults/mutate/results.json (the spec's notes and lines as they are now) without running anything" };
        var exploreStage = new Option<FileInfo?>("--explore-stage") { Description = "Internal: explore the mutants this file lists, in this build", Hidden = true };
        var results = new Option<FileInfo?>("--results") { Description = "Internal: where --explore-stage writes its verdicts", Hidden = true };
        var command = new Command("mutate", "Spec coverage: build every one-line mutant of spec/, run the behaviour suite and the explorer under each, write docs/spec-coverage.md")
        {
            output, only, shard, list, sequences, threads, allScenarios, noBehaviour, noExplorer, noKernel, scratch, fromResults, exploreStage, results,
        };
        command.SetAction(r =>
        {
            if (r.GetValue(exploreStage) is { } ids)
            {
                return ExploreStage(ids, r.GetValue(results)!, r.GetValue(sequences), r.GetValue(threads));
            }

            return Run(new Arguments(r.GetValue(output), r.GetValue(only), r.GetValue(shard), r.GetValue(list), r.GetValue(sequences), Math.Max(1, r.GetValue(threads)), r.GetValue(allScenarios),
                !r.GetValue(noBehaviour), !r.GetValue(noExplorer), !r.GetValue(noKernel), r.GetValue(scratch), r.GetValue(fromResults)));
        });
        return command;
    }

    internal sealed record Arguments(FileInfo? Output, string? Only, string? Shard, bool List, long Sequences, int Threads, bool AllScenarios, bool Behaviour, bool Explorer, bool Kernel, DirectoryInfo? Scratch, bool FromResults);

    internal static int Run(Arguments a)
    {
        if (FindRoot() is not { } root)
        {
            Console.Error.WriteLine("speckit mutate: run it inside the repository (no SpecKit.sln above the current directory)");
            return 2;
        }

        var spec = SpecLines.Read(Path.Combine(root, "spec"), root);
        var all = Mutants.Of(spec);
        var (shardIndex, shards) = (0, 1);
        if (a.Shard is { } s && !TryShard(s, out shardIndex, out shards))
        {
            Console.Error.WriteLine($"speckit mutate: --shard takes i/n with 0 <= i < n, not '{s}'");
            return 2;
        }

        var mutants = all.Where(m => a.Only is null || m.Id.Contains(a.Only, StringComparison.Ordinal))
            .Where((_, i) => i % shards == shardIndex)
            .ToList();
        if (a.List)
        {
            foreach (var m in mutants)
            {
                Console.WriteLine($"{m.Id,-60} {m}{(m.Note is { } n ? $"  [{(n.Unread ? "Unread" : "Equivalent")} at line {n.Line}]" : "")}");
            }

            Console.WriteLine($"{mutants.Count} mutant(s)");
            return 0;
        }

        var saved = Path.Combine(root, "TestResults", "mutate", "results.json");
        var report = a.Output?.FullName ?? Path.Combine(root, "docs", "spec-coverage.md");
        if (a.FromResults)
        {
            if (!File.Exists(saved))
            {
                Console.Error.WriteLine($"speckit mutate: {saved} does not exist (run speckit mutate first)");
                return 2;
            }

            // Mutants are matched by name, so notes added since (which move lines) are read as they are now.
            var last = MutationResults.FromJson(File.ReadAllText(saved));
            File.WriteAllText(report, CoverageReport.Write(mutants, last));
            Console.WriteLine($"kill ratio {CoverageReport.Count(mutants, last).Ratio}; report {report}");
            return 0;
        }

        var clock = Stopwatch.StartNew();
        var scratch = new Scratch(root, a.Scratch?.FullName ?? Path.Combine(root, "TestResults", "mutate", "repo"));
        Log(clock, $"{mutants.Count} of {all.Count} mutants, and the control; scratch copy {scratch.Root}");

        // The control is built and run as the mutants are: whatever differs under it is not the mutated line's doing.
        var control = Mutants.Control(spec);
        scratch.Prepare([.. mutants, control]);
        var rejected = scratch.Build(m => Log(clock, m));
        Log(clock, $"built ({rejected.Count} refused by the spec generator)");
        if (rejected.TryGetValue(control.Id, out var refusedControl))
        {
            Console.Error.WriteLine($"speckit mutate: the spec generator refused the control {control.Id}: {refusedControl}");
            return 1;
        }

        var results = mutants.Append(control).ToDictionary(m => m.Id, m => rejected.TryGetValue(m.Id, out var why) ? new MutantResult(m.Id) { Rejected = why } : new MutantResult(m.Id));
        var built = mutants.Where(m => !rejected.ContainsKey(m.Id)).Select(m => m.Id).Prepend(control.Id).ToList();

        if (a.Explorer && built.Count > 0)
        {
            var ids = Path.Combine(scratch.Root, "TestResults", "mutate-ids.txt");
            var json = Path.Combine(scratch.Root, "TestResults", "mutate-explorer.json");
            Directory.CreateDirectory(Path.GetDirectoryName(ids)!);
            File.WriteAllLines(ids, built);
            Log(clock, $"explorer: {built.Count} models; progress in {json}.log");
            var (code, output) = scratch.Run("dotnet", [scratch.Cli, "mutate", "--explore-stage", ids, "--results", json, "--sequences", a.Sequences.ToString(System.Globalization.CultureInfo.InvariantCulture), "--threads", a.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture)], null);
            if (code != 0)
            {
                Console.Error.WriteLine($"speckit mutate: the explorer stage failed (exit {code}):\n{output}");
                return 1;
            }

            foreach (var r in MutationResults.FromJson(File.ReadAllText(json)).Mutants)
            {
                results[r.Id] = results[r.Id] with { ExplorerRan = true, Explorer = r.Explorer, ExploredSequences = r.ExploredSequences, ExplorerAlsoUnderBase = r.ExplorerAlsoUnderBase };
            }

            Log(clock, $"explorer: {results.Values.Count(r => r.Explorer is not null && r.Id != control.Id)} killed");
        }

        if (a.Behaviour && built.Count > 0)
        {
            // One process runs the suite under every mutant (the control first); its log shows the progress.
            Log(clock, $"behaviour: {built.Count} models in one process; progress in {scratch.SweepLog}");
            var sweep = scratch.BehaviourSweep(built, a.AllScenarios, a.Threads, m => Log(clock, m));
            foreach (var id in built)
            {
                results[id] = sweep.TryGetValue(id, out var b)
                    ? results[id] with { Scenarios = b.Scenarios, ScenariosRun = b.ScenariosRun }
                    : results[id] with { BehaviourNotRun = "the behaviour sweep gave it no verdict" };
            }

            Log(clock, $"behaviour: {built.Count(id => results[id].Scenarios.Count > 0)} of {built.Count} differ in some scenario");
        }
        else
        {
            foreach (var id in built)
            {
                results[id] = results[id] with { BehaviourNotRun = "the behaviour suite was not asked for (--no-behaviour)" };
            }
        }

        // The kernel stage: the mutants no model reads, each applied to the base of a copy of its own.
        var judged = mutants.Where(m => KernelStage.Judges(m) && !rejected.ContainsKey(m.Id)).ToList();
        var kernelSkipped = !a.Kernel ? "the kernel stage was not asked for (--no-kernel)" : KernelStage.Unavailable;
        if (judged.Count > 0 && kernelSkipped is null)
        {
            var stage = new KernelStage(root, Path.Combine(Path.GetDirectoryName(scratch.Root)!, "kernel-repo"));
            Log(clock, $"kernel: {judged.Count} mutant(s) applied to the base in {stage.Root}, each judged by {KernelStage.Filter}");
            foreach (var (id, k) in stage.Run(judged, m => Log(clock, m)))
            {
                results[id] = results[id] with { KernelRan = k.KernelRan, KernelTests = k.KernelTests, KernelNotRun = k.KernelNotRun };
            }

            Log(clock, $"kernel: {judged.Count(m => results[m.Id].KernelTests.Count > 0)} of {judged.Count} killed");
        }
        else
        {
            foreach (var m in judged)
            {
                results[m.Id] = results[m.Id] with { KernelNotRun = kernelSkipped };
            }
        }

        var partial = mutants.Count < all.Count ? $"**partial: {mutants.Count} of the {all.Count} mutants** ({string.Join(", ", new[] { a.Only is { } o ? $"--only {o}" : null, a.Shard is { } sh ? $"--shard {sh}" : null }.Where(x => x is not null))}), " : "";
        var budget = $"{partial}{mutants.Count} mutants and the control built in one build; the explorer {(a.Explorer ? $"from seed {MutantExplorer.Seed}, {a.Sequences} sequences each on EPT, NPT and TDX and {Math.Max(1, a.Sequences / 8)} under shadow paging, stopping at the first counterexample" : "not run")}; the behaviour suite {(a.Behaviour ? $"under each mutant, as `SPECKIT_MODEL` runs it, in one process{(a.AllScenarios ? "" : ", stopping at the first scenario that differs")}" : "not run")}; the kernel stage {(judged.Count == 0 ? "judged none (no guest PTE layout swap among them)" : kernelSkipped is null ? $"on {judged.Count} guest PTE layout swap(s), each applied to the base spec and judged by tests/Kernel.Tests' GuestPagingTests on /dev/kvm" : $"not run: {kernelSkipped}")}";
        var run = new MutationResults([.. mutants.Select(m => results[m.Id])], clock.Elapsed, budget) { Control = results[control.Id] };
        Log(clock, $"the control: {run.Control.Scenarios.Count} scenario(s) and {run.Control.FailedTests.Count} test(s) differ, explorer {(run.Control.Explorer is { } ck ? ck.Rule : "nothing")}{(run.Control.ExplorerAlsoUnderBase.Count > 0 ? $", {run.Control.ExplorerAlsoUnderBase.Count} case(s) the base fails too" : "")}");
        Directory.CreateDirectory(Path.GetDirectoryName(saved)!);
        File.WriteAllText(saved, run.ToJson());
        File.WriteAllText(report, CoverageReport.Write(mutants, run));
        var f = CoverageReport.Count(mutants, run);
        Log(clock, $"kill ratio {f.Ratio}; {f.Survived} survived; report {report}");
        return 0;
    }

    private static int ExploreStage(FileInfo ids, FileInfo output, long sequences, int threads)
    {
        var list = File.ReadAllLines(ids.FullName).Where(l => l.Length > 0).ToList();
        var log = output.FullName + ".log"; // the parent captures this process's output: the log shows the progress
        File.WriteAllText(log, "");
        var results = MutantExplorer.ExploreAll(list, sequences, threads, line =>
        {
            Console.WriteLine(line);
            lock (log)
            {
                File.AppendAllText(log, line + "\n");
            }
        });
        File.WriteAllText(output.FullName, new MutationResults(results, TimeSpan.Zero, "").ToJson());
        return 0;
    }

    private static bool TryShard(string text, out int index, out int count)
    {
        index = 0;
        count = 1;
        var parts = text.Split('/');
        return parts.Length == 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count)
            && count > 0 && index < count;
    }

    private static void Log(Stopwatch clock, string message) => Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] {message}");

    private static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SpecKit.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
