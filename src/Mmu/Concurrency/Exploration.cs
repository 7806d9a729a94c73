namespace SpecKit.Mmu.Concurrency;

/// <summary>What an exploration found: how many schedules ran, how many were clean, the first failing one.</summary>
public sealed record ExplorationResult(string Strategy, int Schedules, int Failing, ScheduleRun? FirstFailure, bool Complete, IReadOnlyDictionary<string, int> Findings)
{
    /// <summary>How many interleavings ended with each set of outcomes (the operations' outcomes joined by "; "), where the operations record them.</summary>
    public IReadOnlyDictionary<string, int> Outcomes { get; init; } = new Dictionary<string, int>();

    public bool Clean => Failing == 0;

    public override string ToString() =>
        $"{Strategy}: {Schedules} interleavings{(Complete ? "" : " (budget reached)")}, {Failing} failing" +
        (FirstFailure is { } f ? $", first {f.Schedule}" : "");
}

/// <summary>
/// Systematic exploration of a concurrent scenario's interleavings, stateless (each schedule runs
/// from a fresh scenario): every schedule with at most a given number of preemptions, in depth
/// first order, as CHESS does (Musuvathi and Qadeer, "Iterative context bounding", PLDI 2007);
/// or random schedules with priority change points, as PCT does (Burckhardt et al., ASPLOS 2010).
/// </summary>
public static class Explorer
{
    /// <summary>
    /// Every schedule with at most <paramref name="preemptionBound"/> preemptions, each exactly
    /// once: a run follows its parent's schedule up to one decision, takes another enabled thread
    /// there, and goes on without preempting; its children deviate only after that decision.
    /// </summary>
    public static ExplorationResult Exhaustive(Func<ConcurrentScenario> scenario, int preemptionBound, int maxSchedules = 100_000)
    {
        var tally = new Tally();
        var stack = new Stack<string>();
        stack.Push("");
        var complete = true;
        while (stack.Count > 0)
        {
            if (tally.Schedules == maxSchedules)
            {
                complete = false;
                break;
            }

            var prefix = stack.Pop();
            var run = Scheduler.Run(scenario(), new Scheduler.Follow(prefix));
            tally.Add(run);

            // The children: at each decision past the prefix, another enabled thread, if the
            // preemptions up to and including it stay within the bound.
            var preemptions = 0;
            for (var i = 0; i < run.Decisions.Count; i++)
            {
                var d = run.Decisions[i];
                if (i >= prefix.Length)
                {
                    foreach (var alternative in d.Enabled)
                    {
                        if (alternative == d.Chosen)
                        {
                            continue;
                        }

                        var cost = preemptions + (new Decision(d.Enabled, alternative, d.Previous).IsPreemption ? 1 : 0);
                        if (cost <= preemptionBound)
                        {
                            stack.Push(run.Schedule[..i] + (char)('0' + alternative));
                        }
                    }
                }

                preemptions += d.IsPreemption ? 1 : 0;
            }
        }

        return tally.Result($"exhaustive, preemption bound {preemptionBound}", complete);
    }

    /// <summary>
    /// PCT: <paramref name="runs"/> schedules from <paramref name="seed"/>; each gives the threads
    /// random distinct priorities and <paramref name="depth"/> - 1 change points among the steps,
    /// runs the highest-priority thread that can run, and drops the running thread to the lowest
    /// priorities at each change point. A bug of depth d shows with probability at least
    /// 1/(n k^(d-1)) per run (n threads, k steps).
    /// </summary>
    public static ExplorationResult Pct(Func<ConcurrentScenario> scenario, int seed, int runs, int depth = 2)
    {
        var tally = new Tally();
        var random = new Random(seed);
        var steps = Math.Max(1, Scheduler.Run(scenario(), new Scheduler.Follow("")).Decisions.Count);
        for (var r = 0; r < runs; r++)
        {
            var built = scenario();
            tally.Add(Scheduler.Run(built, new PctChooser(random, built.Threads.Count, steps, depth)));
        }

        return tally.Result($"PCT seed {seed}, depth {depth}", complete: true);
    }

    private sealed class PctChooser : IScheduleChooser
    {
        private readonly int[] _priority;
        private readonly int[] _changeAt;

        public PctChooser(Random random, int threads, int steps, int depth)
        {
            // Priorities depth .. depth + n - 1, shuffled; change points take 0 .. depth - 2.
            _priority = [.. Enumerable.Range(depth, threads).OrderBy(_ => random.Next())];
            _changeAt = [.. Enumerable.Range(0, depth - 1).Select(_ => random.Next(steps))];
        }

        public int Choose(int step, IReadOnlyList<int> enabled, int previous)
        {
            for (var i = 0; i < _changeAt.Length; i++)
            {
                if (_changeAt[i] == step && previous >= 0)
                {
                    _priority[previous] = i;
                }
            }

            var best = enabled[0];
            foreach (var t in enabled)
            {
                if (_priority[t] > _priority[best])
                {
                    best = t;
                }
            }

            return best;
        }
    }

    private sealed class Tally
    {
        private readonly Dictionary<string, int> _findings = [];
        private ScheduleRun? _first;
        private readonly Dictionary<string, int> _outcomes = [];

        public int Schedules { get; private set; }

        public int Failing { get; private set; }

        public void Add(ScheduleRun run)
        {
            Schedules++;
            if (run.Outcomes.Count > 0)
            {
                var key = string.Join("; ", run.Outcomes.Order(StringComparer.Ordinal));
                _outcomes[key] = _outcomes.GetValueOrDefault(key) + 1;
            }

            if (run.Clean)
            {
                return;
            }

            Failing++;
            _first ??= run;
            foreach (var rule in run.Violations.Select(v => v.Rule).Concat(run.Warning is null ? [] : ["WARN"]).Concat(run.Deadlock ? ["deadlock"] : []).Distinct())
            {
                _findings[rule] = _findings.GetValueOrDefault(rule) + 1;
            }
        }

        public ExplorationResult Result(string strategy, bool complete) => new(strategy, Schedules, Failing, _first, complete, _findings) { Outcomes = _outcomes };
    }
}
