using System.Collections.Concurrent;
using System.Text.Json;
using SpecKit.Features;
using SpecKit.Mmu;

namespace SpecKit.Behaviour;

/// <summary>
/// <c>speckit mutate</c>'s behaviour stage: the scenarios run under each of many models in this
/// one process, as SPECKIT_MODEL runs them (<see cref="ModelSwitch.Use(string, Action{string, string})"/>),
/// instead of one <c>dotnet test</c> per model. It runs only when <c>SPECKIT_MUTATE_SWEEP</c> names
/// the file of model names (one a line); <c>SPECKIT_MUTATE_SWEEP_OUT</c> is where the verdicts go
/// (JSON: model to the scenarios that differ), rewritten after each model so a run cut short keeps
/// what it found. A model's run stops at its first scenario that differs unless
/// <c>SPECKIT_MUTATE_SWEEP_ALL=1</c>; the scenario that differed last is tried first.
/// </summary>
[Trait("Category", "mutate")]
public class MutantSweep
{
    public static string? IdsFile => Environment.GetEnvironmentVariable("SPECKIT_MUTATE_SWEEP") is { Length: > 0 } path ? path : null;

    /// <summary>The sweep's verdict for one model: the scenarios that differ under it, and how many ran.</summary>
    public sealed record ModelVerdict(IReadOnlyList<string> Differs, int Ran);

    [SweepFact]
    public void Every_listed_model_against_the_base_s_expectations()
    {
        var ids = File.ReadAllLines(IdsFile!).Where(l => l.Length > 0).ToList();
        var output = Environment.GetEnvironmentVariable("SPECKIT_MUTATE_SWEEP_OUT") ?? IdsFile + ".json";
        var all = Environment.GetEnvironmentVariable("SPECKIT_MUTATE_SWEEP_ALL") == "1";
        var threads = int.TryParse(Environment.GetEnvironmentVariable("SPECKIT_MUTATE_SWEEP_THREADS"), out var t) && t > 0 ? t : Environment.ProcessorCount;
        Assert.All(ids, id => SpecModels.Named(id)); // a name the build does not have is an error, not a survivor

        var scenarios = GeneratedScenarios.OnTheModel;
        var verdicts = new ConcurrentDictionary<string, ModelVerdict>();
        var killers = new List<int>(); // the scenarios that differed, most recent first
        var log = output + ".log";
        File.WriteAllText(log, "");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Parallel.ForEach(ids, new ParallelOptions { MaxDegreeOfParallelism = threads }, id =>
        {
            List<int> order;
            lock (killers)
            {
                order = [.. killers, .. Enumerable.Range(0, scenarios.Count).Except(killers)];
            }

            var differs = new List<string>();
            var ran = 0;
            foreach (var i in order)
            {
                string? verdict = null, name = null;
                Exception? failure;
                using (ModelSwitch.Use(id, (scenario, v) => (name, verdict) = (scenario, v)))
                {
                    failure = GeneratedScenarios.Run(scenarios[i]);
                }

                ran++;
                if (verdict == "differs" || (verdict is null && failure is not null))
                {
                    // A failure without a verdict is a scenario that fails as written: the control shows it too.
                    differs.Add(name ?? $"{GeneratedScenarios.Name(scenarios[i])} (failed as written: {failure!.GetType().Name})");
                    lock (killers)
                    {
                        killers.Remove(i);
                        killers.Insert(0, i);
                    }

                    if (!all)
                    {
                        break;
                    }
                }
            }

            verdicts[id] = new ModelVerdict(differs, ran);
            lock (verdicts)
            {
                File.WriteAllText(output, JsonSerializer.Serialize(new SortedDictionary<string, ModelVerdict>(verdicts, StringComparer.Ordinal)));
                File.AppendAllText(log, $"[{clock.Elapsed:mm\\:ss}] {verdicts.Count}/{ids.Count} {id}: {(differs.Count == 0 ? $"same in all {ran}" : $"differs: {differs[0]}")}\n");
            }
        });

        Assert.Equal(ids.Count, verdicts.Count);
    }

    /// <summary>A fact that runs only when <c>speckit mutate</c> asks for the sweep.</summary>
    private sealed class SweepFactAttribute : FactAttribute
    {
        public SweepFactAttribute()
        {
            if (IdsFile is null)
            {
                Skip = "speckit mutate's behaviour stage: runs when SPECKIT_MUTATE_SWEEP names the models";
            }
        }
    }
}
