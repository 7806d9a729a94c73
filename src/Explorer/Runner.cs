using SpecKit.Mmu;

namespace SpecKit.Explorer;

/// <summary>
/// What broke: the checker's first new report (its rule and message), or an exception (a kernel
/// WARN, or a .NET exception, which the kernel has no equivalent of), at step <see cref="Step"/>
/// (the index into the run's steps; the run's length when the end-of-scenario check found it).
/// </summary>
public sealed record Failure(int Step, string Rule, string Message, bool IsException)
{
    public override string ToString() => IsException ? $"exception {Rule}: {Message}" : $"{Rule}: {Message}";
}

/// <summary>One case run under one model: the Given steps, the steps that ran, and the failure if any.</summary>
public sealed record RunResult(Case Case, string Model, List<string> Given, List<Step> Steps, Failure? Failure, Machine Machine)
{
    /// <summary>The operations that ran (not the ones that did not apply), as many as there are steps.</summary>
    public int OperationsRun => Steps.Count;
}

/// <summary>Runs a case on a fresh VM and checks it after every step, as the feature it prints would.</summary>
public static class Runner
{
    /// <summary>
    /// Makes the VM, applies each operation, and stops at the first checker report or exception
    /// (the oracle), or at a step that could not be printed faithfully; at the end, the checker
    /// runs once more, as the behaviour suite's AfterScenario hook does. Never throws.
    /// </summary>
    public static RunResult Run(Case c, SpecModelInfo model, Action<Machine, Step>? observe = null)
    {
        var m = new Machine(c.Setup, model);
        var steps = new List<Step>();
        List<string> given;
        try
        {
            given = c.Setup.Apply(m, ModelName(model));
        }
        catch (Exception e)
        {
            return new RunResult(c, model.Name, [], steps, new Failure(-1, e.GetType().Name, "the VM setup threw: " + e.Message, true), m);
        }

        var kvm = m.Kvm;
        if (kvm.Violations.Count > 0)
        {
            return new RunResult(c, model.Name, given, steps, Reported(-1, kvm.Violations[0]), m);
        }

        foreach (var op in c.Ops)
        {
            Step? step;
            try
            {
                step = op.Apply(m);
            }
            catch (Exception e)
            {
                steps.Add(m.Pending is { Text.Length: > 0 } pending ? pending : new Step("When", op.ToString(), "exception"));
                return new RunResult(c, model.Name, given, steps, new Failure(steps.Count - 1, e.GetType().Name, e.Message, true), m);
            }

            if (step is null)
            {
                continue;
            }

            if (!step.Printable)
            {
                // The step would fail its own assertion in a feature: what ran up to here stands.
                break;
            }

            steps.Add(step);
            observe?.Invoke(m, step);
            if (kvm.Violations.Count > 0)
            {
                return new RunResult(c, model.Name, given, steps, Reported(steps.Count - 1, kvm.Violations[0]), m);
            }
        }

        try
        {
            kvm.CheckInvariants("the scenario");
        }
        catch (Exception e)
        {
            return new RunResult(c, model.Name, given, steps, new Failure(steps.Count, e.GetType().Name, e.Message, true), m);
        }

        return new RunResult(c, model.Name, given, steps, kvm.Violations.Count > 0 ? Reported(steps.Count, kvm.Violations[0]) : null, m);
    }

    private static Failure Reported(int step, Mmu.Kvm.Violation v) => new(step, v.Rule, v.ToString(), false);

    /// <summary>
    /// The {model} word: the base model is written "base" (ModelSwitch.BaseModel); a Lock mutant
    /// by the model it edits (<see cref="LockMutants"/>: its Given steps say the edit).
    /// </summary>
    public static string ModelName(SpecModelInfo model) => model.Name.Split(LockMutants.Separator)[0];
}
