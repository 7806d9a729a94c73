using System.Text;

namespace SpecKit.Features;

/// <summary>
/// An object a scenario's steps share (injected through their constructors) that can say
/// what state the scenario left it in: a VM's page tables and log. When a scenario fails, its
/// report ends with the description of every such object the scenario made, so a reader sees
/// what the model looked like without adding a snapshot step and running again.
/// </summary>
public interface IScenarioState
{
    /// <summary>The state to show after a failure, or null when there is none (no VM was made).</summary>
    string? DescribeState();
}

/// <summary>The last part of a failure report: the state of each <see cref="IScenarioState"/> of the scenario.</summary>
internal static class ScenarioStateReport
{
    public static string Describe(ScenarioContext context)
    {
        var text = new StringBuilder();
        foreach (var state in context.Instances.OfType<IScenarioState>())
        {
            string? description;
            try
            {
                description = state.DescribeState();
            }
            catch (Exception e)
            {
                // The report must still come out when the model is too broken to describe.
                description = $"(could not be described: {e.GetType().Name}: {e.Message})";
            }

            if (string.IsNullOrWhiteSpace(description))
            {
                continue;
            }

            text.Append('\n').Append("State of ").Append(state.GetType().Name).AppendLine(" at the end of the scenario:");
            foreach (var line in description!.TrimEnd().Split('\n'))
            {
                text.Append("  ").AppendLine(line.TrimEnd('\r'));
            }
        }

        return text.ToString().TrimEnd();
    }
}
