using System.Text;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// What a failed scenario's report shows of a VM (the worlds' <see cref="SpecKit.Features.IScenarioState"/>):
/// its model, its page tables as the snapshots render them, the end of its log, and the
/// checker's reports that no step claimed and that have scrolled out of that part of the log.
/// </summary>
internal static class ModelState
{
    /// <summary>How much of the log a report shows: enough for the last few faults and ioctls.</summary>
    public const int LogTail = 25;

    public static string Describe(string model, string tablesTitle, string tables, IReadOnlyList<string> log, IReadOnlyCollection<Violation> unclaimed)
    {
        var text = new StringBuilder();
        text.Append("model: ").AppendLine(model);
        text.Append(tablesTitle).AppendLine(":");
        foreach (var line in tables.TrimEnd().Split('\n'))
        {
            text.Append("  ").AppendLine(line);
        }

        var tail = log.Skip(Math.Max(0, log.Count - LogTail)).ToList();
        text.Append(log.Count > LogTail ? $"the last {LogTail} of {log.Count} events of the log" : "the log").AppendLine(":");
        foreach (var line in tail.Count == 0 ? ["(empty)"] : tail)
        {
            text.Append("  ").AppendLine(line);
        }

        // Each breach once: the log holds it as "INVARIANT BROKEN: ..." when it is in the tail.
        var hidden = unclaimed.Where(v => !tail.Any(line => line.Contains(v.ToString(), StringComparison.Ordinal))).ToList();
        if (hidden.Count > 0)
        {
            text.AppendLine("checker reports no step claimed, from earlier in the log:");
            foreach (var violation in hidden)
            {
                text.Append("  ").AppendLine(violation.ToString());
            }
        }

        return text.ToString();
    }
}
