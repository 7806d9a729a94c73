using System.Text;

namespace SpecKit.Explorer;

/// <summary>
/// Prints a run as a .feature in the behaviour suite's step vocabulary (docs/steps.md): the
/// Given steps that make the VM, one step per operation that ran, and a last step that fails
/// the way the run did. Pasted under features/, it binds and fails with the same message.
/// </summary>
public static class FeaturePrinter
{
    /// <summary>A counterexample: its steps, then "the checker reports nothing", which the checker's report makes fail.</summary>
    public static string Counterexample(RunResult run, string caseSeed, ulong runSeed, long index, int maxSteps, RaceKind? race = null)
    {
        var failure = run.Failure ?? throw new ArgumentException("the run did not fail", nameof(run));
        var kind = run.Case.Setup.Kind == VmKind.Tdx ? "TDX" : run.Case.Setup.Kind.StepWord();
        var header = new List<string>
        {
            $"Found by the SpecKit explorer under the {run.Model} model on {kind}, shrunk by CsCheck to {run.Steps.Count} step(s).",
            $"Rerun: speckit explore --model {run.Model} --mmu {run.Case.Setup.Kind.ToString().ToLowerInvariant()} --case {caseSeed} --max-steps {maxSteps}{(race is { } r ? $" --race {r}" : "")}  (run seed {runSeed}, sequence {index})",
            failure.IsException ? $"The model threw {failure.Rule}: {failure.Message}" : $"The checker: {failure.Message}",
        };
        var lines = Lines(run.Given, run.Steps);
        lines.Add(("Then", "the checker reports nothing"));
        return Render(header, $"Explorer counterexample: {failure.Rule} under {run.Model} on {kind}", $"{failure.Rule} (case {caseSeed})", lines);
    }

    /// <summary>A run the checker found nothing in, as a feature that passes: what tests that a printed run is the same run.</summary>
    public static string Clean(RunResult run, string caseSeed)
    {
        if (run.Failure is not null)
        {
            throw new ArgumentException($"the run failed: {run.Failure}", nameof(run));
        }

        var lines = Lines(run.Given, run.Steps);
        lines.Add(("Then", "the checker reports nothing"));
        return Render([$"A clean run of the SpecKit explorer under the {run.Model} model, case {caseSeed}."], $"Explorer run under {run.Model} on {run.Case.Setup.Kind}", $"Case {caseSeed}", lines);
    }

    /// <summary>The steps as keyword and text, the repeated keyword written And.</summary>
    public static List<(string Keyword, string Text)> Lines(IEnumerable<string> given, IEnumerable<Step> steps) =>
        [.. given.Select(g => ("Given", g)), .. steps.Select(s => (s.Keyword, s.Text))];

    public static string Render(IEnumerable<string> header, string feature, string scenario, IEnumerable<(string Keyword, string Text)> lines)
    {
        var text = new StringBuilder();
        foreach (var line in header)
        {
            text.Append("# ").Append(OneLine(line)).Append('\n');
        }

        text.Append("@explorer\n");
        text.Append("Feature: ").Append(OneLine(feature)).Append("\n\n");
        text.Append("  Scenario: ").Append(OneLine(scenario)).Append('\n');
        string? last = null;
        foreach (var (keyword, step) in lines)
        {
            if (keyword.StartsWith('#'))
            {
                text.Append("    ").Append(OneLine(keyword + step)).Append('\n');
                continue;
            }

            text.Append("    ").Append(keyword == last ? "And" : keyword).Append(' ').Append(step).Append('\n');
            last = keyword;
        }

        return text.ToString();
    }

    private static string OneLine(string text) => text.Replace('\r', ' ').Replace('\n', ' ');
}
