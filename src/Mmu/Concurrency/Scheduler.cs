using System.Text;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// A scenario to run concurrently: the VM as the sequential steps left it, the operations that
/// run together, and the check made when all are done. Built afresh for every schedule, so a run
/// depends on nothing but the schedule.
/// </summary>
public sealed record ConcurrentScenario(ConcurrentKvm Context, IReadOnlyList<ConcurrentThread> Threads, Action<ConcurrentKvm>? FinalCheck = null);

/// <summary>Picks the thread that runs the next step among those that can.</summary>
public interface IScheduleChooser
{
    /// <param name="step">How many steps have run.</param>
    /// <param name="enabled">The threads that can run, lowest first (never empty).</param>
    /// <param name="previous">The thread that ran the last step, or -1.</param>
    int Choose(int step, IReadOnlyList<int> enabled, int previous);
}

/// <summary>One decision of a run: who could run, who ran, and who ran the step before.</summary>
public readonly record struct Decision(int[] Enabled, int Chosen, int Previous)
{
    /// <summary>A preemption (CHESS): another thread runs while the previous one could have gone on.</summary>
    public bool IsPreemption => Previous >= 0 && Chosen != Previous && Array.IndexOf(Enabled, Previous) >= 0;
}

/// <summary>The outcome of one schedule.</summary>
public sealed record ScheduleRun(
    string Schedule,
    IReadOnlyList<(int Thread, string What)> Trace,
    IReadOnlyList<Violation> Violations,
    string? Warning,
    bool Deadlock,
    IReadOnlyList<Decision> Decisions,
    IReadOnlyList<string> ThreadNames,
    KvmLog Log,
    IReadOnlyList<string> Outcomes)
{
    public bool Clean => Violations.Count == 0 && Warning is null && !Deadlock;

    public int Preemptions => Decisions.Count(d => d.IsPreemption);

    /// <summary>What went wrong, one line each.</summary>
    public IEnumerable<string> Findings =>
        Violations.Select(v => v.ToString())
            .Concat(Warning is null ? [] : ["WARN: " + Warning])
            .Concat(Deadlock ? ["deadlock: no thread can run"] : []);

    /// <summary>The run as a scenario with explicit interleaving steps, to read or paste into a report.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append("schedule ").Append(Schedule).Append('\n');
        foreach (var (thread, what) in Trace)
        {
            text.Append("  ").Append(ThreadNames[thread]).Append(": ").Append(what).Append('\n');
        }

        foreach (var outcome in Outcomes)
        {
            text.Append("  -> ").Append(outcome).Append('\n');
        }

        foreach (var finding in Findings)
        {
            text.Append("  => ").Append(finding).Append('\n');
        }

        return text.ToString();
    }
}

/// <summary>
/// The deterministic scheduler over the model's own step points: no OS threads, one step at a
/// time, the order chosen by an <see cref="IScheduleChooser"/>; the run is written down as a
/// schedule string (the thread of each step, as digits), which <see cref="Replay"/> runs again.
/// The checker runs after every step that changed an SPTE, and the scenario's final check once
/// every thread is done.
/// </summary>
public static class Scheduler
{
    /// <summary>A run that takes more steps than this is stopped (a livelock in the model).</summary>
    public const int MaxSteps = 10_000;

    public static ScheduleRun Run(ConcurrentScenario scenario, IScheduleChooser chooser)
    {
        var ctx = scenario.Context;
        var names = scenario.Threads.Select(t => t.Name).ToArray();
        KvmWarn.On(names.Length > 10, "a schedule string names threads by one digit: at most 10 threads");
        ctx.ThreadName = t => names[t];
        var bodies = scenario.Threads.Select(t => t.Body.GetEnumerator()).ToArray();
        var pending = new Step?[bodies.Length];
        var trace = new List<(int, string)>();
        var decisions = new List<Decision>();
        var schedule = new StringBuilder();
        string? warning = null;
        var deadlock = false;
        var previous = -1;
        var enabled = new List<int>(bodies.Length);
        try
        {
            // Each body yields before its first action, so this runs nothing shared.
            for (var t = 0; t < bodies.Length; t++)
            {
                ctx.Current = t;
                pending[t] = bodies[t].MoveNext() ? bodies[t].Current : null;
            }

            for (var step = 0; ; step++)
            {
                enabled.Clear();
                var live = false;
                for (var t = 0; t < bodies.Length; t++)
                {
                    if (pending[t] is { } p)
                    {
                        live = true;
                        if (p.CanRun)
                        {
                            enabled.Add(t);
                        }
                    }
                }

                if (!live)
                {
                    break;
                }

                // rwlock_needbreak(&kvm->mmu_lock): some thread spins to take it.
                ctx.MmuLockContended = false;
                for (var t = 0; t < bodies.Length; t++)
                {
                    ctx.MmuLockContended |= pending[t] is { SpinsOnMmuLock: true } p && !enabled.Contains(t);
                }

                if (enabled.Count == 0 || step == MaxSteps)
                {
                    deadlock = enabled.Count == 0;
                    warning = deadlock ? null : $"no end after {MaxSteps} steps";
                    break;
                }

                var chosen = enabled.Count == 1 ? enabled[0] : chooser.Choose(step, enabled, previous);
                KvmWarn.On(!enabled.Contains(chosen), $"the schedule runs thread {chosen} at step {step}, which cannot run then");
                decisions.Add(new Decision([.. enabled], chosen, previous));
                schedule.Append((char)('0' + chosen));
                trace.Add((chosen, pending[chosen]!.Value.What));
                ctx.Current = chosen;
                ctx.Changed = false;
                pending[chosen] = bodies[chosen].MoveNext() ? bodies[chosen].Current : null;
                ctx.Rcu.PollGracePeriod();
                if (ctx.Changed)
                {
                    ctx.Kvm.AfterOperation(trace[^1].Item2);
                }

                previous = chosen;
            }

            if (warning is null && !deadlock)
            {
                scenario.FinalCheck?.Invoke(ctx);
            }
        }
        catch (KvmWarnException e)
        {
            warning = e.Message.StartsWith("WARN: ", StringComparison.Ordinal) ? e.Message[6..] : e.Message;
        }
        finally
        {
            foreach (var body in bodies)
            {
                body.Dispose();
            }
        }

        return new ScheduleRun(schedule.ToString(), trace, [.. ctx.Kvm.Violations], warning, deadlock, decisions, names, ctx.Kvm.Log, [.. ctx.Outcomes]);
    }

    /// <summary>Runs <paramref name="schedule"/> (as a run printed it) again on a fresh scenario.</summary>
    public static ScheduleRun Replay(Func<ConcurrentScenario> scenario, string schedule) => Run(scenario(), new Follow(schedule));

    /// <summary>Follows a schedule string, then (past its end) the non-preemptive default.</summary>
    public sealed class Follow(string prefix) : IScheduleChooser
    {
        public int Choose(int step, IReadOnlyList<int> enabled, int previous) =>
            step < prefix.Length ? prefix[step] - '0' : NonPreemptive(enabled, previous);
    }

    /// <summary>Keep running the thread that ran last while it can, else the lowest that can (no preemption).</summary>
    public static int NonPreemptive(IReadOnlyList<int> enabled, int previous)
    {
        for (var i = 0; i < enabled.Count; i++)
        {
            if (enabled[i] == previous)
            {
                return previous;
            }
        }

        return enabled[0];
    }
}
