using System.Globalization;
using System.Text;

namespace SpecKit.Explorer.Coverage;

public enum Verdict
{
    /// <summary>A scenario, the explorer or the spec generator tells the mutant from the base.</summary>
    Killed,

    /// <summary>Nothing tells it apart, and the spec records why it cannot be (<c>Equivalent</c>).</summary>
    Equivalent,

    /// <summary>Nothing tells it apart, and the spec records that the runtime reads the key (or, for Changes, the value toggled) nowhere for this operation (<c>Unread</c>).</summary>
    DrivesNothing,

    /// <summary>Nothing tells it apart and the spec says nothing about it: a hole in the suite, or a note missing.</summary>
    Survived,

    /// <summary>Killed, though the spec records it as equivalent or unread: the note is wrong.</summary>
    KilledDespiteNote,

    /// <summary>Not run (the run was cut short, or filtered).</summary>
    NotRun,
}

/// <summary>docs/spec-coverage.md: each mutant's verdict, by spec file and line, with the figures.</summary>
public static class CoverageReport
{
    public static Verdict Of(Mutant mutant, MutantResult? result) =>
        result is null || (!result.ExplorerRan && result.BehaviourNotRun is not null && result.Rejected is null && !result.KernelRan) ? Verdict.NotRun
        : result.Rejected is not null ? Verdict.Killed // no model exists, so no note can be wrong about it
        : result.Killed ? (mutant.Note is null ? Verdict.Killed : Verdict.KilledDespiteNote)
        : mutant.Note is { Unread: true } ? Verdict.DrivesNothing
        : mutant.Note is not null ? Verdict.Equivalent
        : Verdict.Survived;

    public sealed record Figures(int Mutants, int Killed, int ByScenarios, int ByExplorerOnly, int Refused, int Equivalent, int DrivesNothing, int Survived, int KilledDespiteNote, int NotRun, int ByKernelOnly = 0)
    {
        /// <summary>The mutants the spec does not excuse, which the target says must all be killed.</summary>
        public int Counted => Mutants - Equivalent - DrivesNothing - NotRun;

        public string Ratio => Counted == 0 ? "n/a" : $"{Killed + KilledDespiteNote}/{Counted} ({100.0 * (Killed + KilledDespiteNote) / Counted:F1} %)";
    }

    public static Figures Count(IReadOnlyList<Mutant> mutants, MutationResults results)
    {
        var verdicts = mutants.Select(m => (Mutant: m, Result: results.Of(m.Id), Verdict: Of(m, results.Of(m.Id)))).ToList();
        int Is(Verdict v) => verdicts.Count(x => x.Verdict == v);
        var killed = verdicts.Where(x => x.Verdict is Verdict.Killed or Verdict.KilledDespiteNote).ToList();
        return new Figures(
            mutants.Count,
            Is(Verdict.Killed),
            killed.Count(x => x.Result!.KilledByScenarios),
            killed.Count(x => !x.Result!.KilledByScenarios && x.Result.Explorer is not null),
            killed.Count(x => x.Result!.Rejected is not null),
            Is(Verdict.Equivalent),
            Is(Verdict.DrivesNothing),
            Is(Verdict.Survived),
            Is(Verdict.KilledDespiteNote),
            Is(Verdict.NotRun),
            killed.Count(x => !x.Result!.KilledByScenarios && x.Result.Explorer is null && x.Result.Rejected is null && x.Result.KernelTests.Count > 0));
    }

    public static string Write(IReadOnlyList<Mutant> mutants, MutationResults results)
    {
        var f = Count(mutants, results);
        var text = new StringBuilder();
        text.Append("# Spec coverage\n\n");
        text.Append("Written by `speckit mutate` (README.md, \"Spec coverage\"); do not edit by hand. Each mutant changes one line of\n");
        text.Append("the base spec: a key line of an `Operation` in spec/policy/ given each other value its key takes (`Changes`: each\n");
        text.Append("value added, or removed where another stays), or a layout field swapped with the next field of its width. All\n");
        text.Append("are built at once as variants of a scratch copy. A mutant is killed when a behaviour scenario comes out\n");
        text.Append("differently under it (`SPECKIT_MODEL`'s `differs` verdict) and not under the control (the base under another\n");
        text.Append("name, below), when the explorer's checker reports something under it on a case the base passes, or when the\n");
        text.Append("spec generator refuses it. The guest's PTE layouts, which the model reads only through the base's types (so no\n");
        text.Append("variant of them drives a model), are judged by the real kernel: each swap applied to the base spec of a copy,\n");
        text.Append("built, and tests/Kernel.Tests' GuestPagingTests run on /dev/kvm, whose walker uses the architectural bits.\n");
        text.Append("A survivor is excused only by what the spec records beside the\n");
        text.Append("line: `Equivalent` (the mutant cannot behave differently, and why) or `Unread` (the runtime reads the key,\n");
        text.Append("or the `Changes` values listed, nowhere for that operation today); a killed mutant with such a note means the note is wrong.\n\n");
        text.Append(CultureInfo.InvariantCulture, $"The run: {results.Budget}; it took {Duration(results.Took)}.\n\n");
        text.Append("| mutants | killed | by scenarios | by the explorer only | by the kernel backend only | refused by the spec generator | equivalent | drives nothing today | survived | killed despite a note | not run |\n");
        text.Append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        text.Append(CultureInfo.InvariantCulture, $"| {f.Mutants} | {f.Killed + f.KilledDespiteNote} | {f.ByScenarios} | {f.ByExplorerOnly} | {f.ByKernelOnly} | {f.Refused} | {f.Equivalent} | {f.DrivesNothing} | {f.Survived} | {f.KilledDespiteNote} | {f.NotRun} |\n\n");
        text.Append(CultureInfo.InvariantCulture, $"Kill ratio (killed over the mutants the spec does not excuse): **{f.Ratio}**.\n\n");
        text.Append(Calibration(results));

        var survivors = mutants.Where(m => Of(m, results.Of(m.Id)) is Verdict.Survived or Verdict.KilledDespiteNote).ToList();
        text.Append("## Survivors\n\n");
        if (survivors.Count == 0)
        {
            text.Append("None.\n\n");
        }
        else
        {
            foreach (var m in survivors)
            {
                text.Append(CultureInfo.InvariantCulture, $"- `{m.File}:{m.Line}` {m.Subject} {m.From} -> {m.To}: {Describe(m, results.Of(m.Id))}\n");
            }

            text.Append('\n');
        }

        foreach (var file in mutants.GroupBy(m => m.File))
        {
            text.Append(CultureInfo.InvariantCulture, $"## {file.Key}\n\n");
            text.Append("| line | what | from | to | verdict |\n|---|---|---|---|---|\n");
            foreach (var m in file.OrderBy(m => m.Line).ThenBy(m => m.Id, StringComparer.Ordinal))
            {
                text.Append(CultureInfo.InvariantCulture, $"| {m.Line} | {m.Subject} | {Cell(m.From)} | {Cell(m.To)} | {Cell(Describe(m, results.Of(m.Id)))} |\n");
            }

            text.Append('\n');
        }

        var explorerOnly = mutants.Where(m => results.Of(m.Id) is { Explorer: not null, KilledByScenarios: false, Rejected: null }).ToList();
        if (explorerOnly.Count > 0)
        {
            text.Append("## What the explorer found that no scenario does\n\n");
            text.Append("Each shrunk counterexample's steps (the feature the explorer prints), for the mutants no scenario kills.\n\n");
            foreach (var m in explorerOnly)
            {
                var k = results.Of(m.Id)!.Explorer!;
                text.Append(CultureInfo.InvariantCulture, $"### {m.Subject} {m.From} -> {m.To} (`{m.File}:{m.Line}`)\n\n");
                text.Append(CultureInfo.InvariantCulture, $"{k.Kind}, case `{k.CaseSeed}`: {k.Rule}: {k.Message}\n\n```gherkin\n");
                foreach (var step in k.Steps)
                {
                    text.Append(step).Append('\n');
                }

                text.Append("Then the checker reports nothing\n```\n\n");
            }
        }

        return text.ToString();
    }

    /// <summary>What the control (the base under another name) showed, and so what is not counted.</summary>
    private static string Calibration(MutationResults results)
    {
        var text = new StringBuilder("## The control\n\n");
        if (results.Control is not { } c)
        {
            return text.Append("No control was run, so a scenario that differs under any variant whatever would count as a kill.\n\n").ToString();
        }

        text.Append(CultureInfo.InvariantCulture, $"`{Mutants.ControlId}` restates one key line with the value it has: the base under another name, built and run as\n");
        text.Append("every mutant is. ");
        var behaviour = c.BehaviourNotRun is { } why ? $"The behaviour suite did not run under it ({why}). "
            : c.Scenarios.Count + c.FailedTests.Count == 0 ? "No scenario differs under it. "
            : $"These differ under it, so they differ under any variant for a reason that is not the mutated line (scenarios that name their model, or compare models), and are not counted as a kill of any mutant: {string.Join("; ", c.Scenarios.Concat(c.FailedTests).Select(s => $"`{s.Replace("  ", " ", StringComparison.Ordinal)}`"))}. ";
        text.Append(behaviour);
        text.Append(!c.ExplorerRan ? "The explorer did not run under it."
            : c.Explorer is { } k ? $"The explorer reports {k.Rule} ({k.Kind}, case `{k.CaseSeed}`) under it, which the base does not: a defect of the explorer or the model."
            : c.ExplorerAlsoUnderBase.Count > 0 ? $"The explorer finds counterexamples under it that the base fails too ({string.Join("; ", c.ExplorerAlsoUnderBase)}): a defect of the base model or the checker; such cases kill no mutant."
            : $"The explorer finds nothing under it ({c.ExploredSequences:N0} sequences).");
        text.Append(" An explorer counterexample kills a mutant only if its shrunk case passes under the base.\n\n");
        return text.ToString();
    }

    /// <summary>One mutant's verdict in words: what killed it, or why it stands.</summary>
    public static string Describe(Mutant mutant, MutantResult? result)
    {
        var verdict = Of(mutant, result);
        var note = mutant.Note is { } n ? $"{(n.Unread ? "Unread" : "Equivalent")} at line {n.Line}: {n.Reason}" : "";
        return verdict switch
        {
            Verdict.NotRun => "not run",
            Verdict.Equivalent => "equivalent: " + note,
            Verdict.DrivesNothing => "drives nothing today: " + note,
            Verdict.Survived => $"**survived** ({result!.ExploredSequences:N0} explorer sequences{(result.BehaviourNotRun is { } why ? "; " + why : "")}{(result.KernelNotRun is { } kernel ? "; kernel stage: " + kernel : "")}{Uncounted(result)}{AlsoUnderBase(result)})",
            Verdict.KilledDespiteNote => $"**killed despite the note** ({note}): {Kills(result!)}",
            _ => Kills(result!),
        };
    }

    private static string Uncounted(MutantResult r) => r.Uncounted.Count == 0 ? "" : $"; {r.Uncounted.Count} scenario(s) differ as under the control, not counted";

    private static string AlsoUnderBase(MutantResult r) => r.ExplorerAlsoUnderBase.Count == 0 ? "" : $"; the explorer's {string.Join(", ", r.ExplorerAlsoUnderBase)}: the base fails it too";

    private static string Kills(MutantResult r)
    {
        if (r.Rejected is { } rejected)
        {
            return "refused by the spec generator: " + rejected;
        }

        var parts = new List<string>();
        if (r.Scenarios.Count > 0)
        {
            var shown = string.Join("; ", r.Scenarios.Take(3).Select(s => s.Replace("  ", " ", StringComparison.Ordinal)));
            parts.Add($"{r.Scenarios.Count} scenario(s): {shown}{(r.Scenarios.Count > 3 ? $"; +{r.Scenarios.Count - 3} more" : "")}");
        }

        if (r.FailedTests.Count > 0)
        {
            parts.Add($"{r.FailedTests.Count} test(s) failed: {string.Join("; ", r.FailedTests.Take(3))}");
        }

        if (r.Explorer is { } k)
        {
            parts.Add($"explorer ({k.Kind}, {k.Steps.Count} steps): {k.Rule}");
        }

        if (r.KernelTests.Count > 0)
        {
            parts.Add($"the kernel backend, the swap applied to the base: {r.KernelTests.Count} test(s) failed: {string.Join("; ", r.KernelTests.Take(3).Select(t => t.Replace("SpecKit.Kernel.Tests.", "", StringComparison.Ordinal)))}{(r.KernelTests.Count > 3 ? $"; +{r.KernelTests.Count - 3} more" : "")}");
        }

        return string.Join(" · ", parts);
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Duration(TimeSpan t) => t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds} s" : $"{t.TotalSeconds:F1} s";
}
