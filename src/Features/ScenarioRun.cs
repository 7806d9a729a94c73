using System.Text;
using SpecKit.Testing;

namespace SpecKit.Features;

/// <summary>
/// Runs one scenario's hooks and steps in order and reports like a person would: which
/// feature file and line, which step failed and why (the assertion's expected and actual),
/// and which steps were skipped after it.
/// </summary>
public sealed class ScenarioRun(ScenarioContext context)
{
    private readonly List<(string Status, string Keyword, string Text, int Line, Exception? Error)> _log = [];
    private Exception? _firstError;

    public ScenarioContext Context { get; } = context;

    public bool Failed => _firstError is not null;

    /// <summary>Runs a step unless an earlier step or hook failed, in which case it is reported as skipped.</summary>
    public void Step(string keyword, string text, int line, Action body)
    {
        if (Failed)
        {
            _log.Add(("skipped", keyword, text, line, null));
            return;
        }

        try
        {
            Context.CurrentStep = (keyword, text, line);
            body();
            _log.Add(("passed", keyword, text, line, null));
        }
        catch (Exception e)
        {
            _firstError = e;
            _log.Add(("FAILED", keyword, text, line, e));
        }
    }

    /// <summary>A before-hook failing fails the scenario; after-hooks run even after a failure.</summary>
    public void Hook(string name, bool after, Action body)
    {
        if (Failed && !after)
        {
            return;
        }

        try
        {
            body();
        }
        catch (Exception e)
        {
            _firstError ??= e;
            _log.Add(("FAILED", "Hook", name, Context.Info.Line, e));
        }
    }

    /// <summary>
    /// Throws <see cref="ScenarioFailedException"/> if anything failed; the first error is its
    /// inner exception. Under SPECKIT_MODEL a scenario that ran another model in place of the
    /// base one passes when it came out the same and fails with what differs.
    /// </summary>
    public void Complete()
    {
        if (Context.ComparedModel is { } model)
        {
            CompleteComparison(model);
            return;
        }

        if (_firstError is null)
        {
            return;
        }

        throw new ScenarioFailedException(Describe(), _firstError);
    }

    private void CompleteComparison(string model)
    {
        var differences = Context.SnapshotDifferences;
        ModelSwitch.Record(Context.Info, _firstError is null && differences.Count == 0 ? "same" : "differs");
        if (_firstError is null && differences.Count == 0)
        {
            return;
        }

        var text = new StringBuilder($"Under SPECKIT_MODEL={model} this scenario differs from the base model:\n");
        foreach (var difference in differences)
        {
            text.AppendLine(difference.TrimEnd());
        }

        text.Append(Describe());
        throw new ScenarioFailedException(text.ToString(), _firstError ?? new SnapshotMismatchException(differences[0]));
    }

    private string Describe()
    {
        var info = Context.Info;
        var text = new StringBuilder();
        text.Append(info.FeatureFile).Append(':').Append(info.Line).Append(": Scenario: ").Append(info.DisplayName);
        text.AppendLine();
        if (info.ExampleLabel is not null)
        {
            text.Append("  Examples row ").Append(info.ExampleLabel).Append("  (").Append(info.FeatureFile).Append(':').Append(info.ExampleLine ?? info.Line).AppendLine(")");
        }

        foreach (var (status, keyword, stepText, line, error) in _log)
        {
            text.Append("  ").Append(status.PadRight(8)).Append(keyword).Append(' ').Append(stepText)
                .Append("  (").Append(info.FeatureFile).Append(':').Append(line).AppendLine(")");
            if (error is not null)
            {
                foreach (var messageLine in Message(error).Split('\n'))
                {
                    text.Append("          ").AppendLine(messageLine.TrimEnd('\r'));
                }
            }
        }

        return (text.ToString().TrimEnd() + "\n" + ScenarioStateReport.Describe(Context)).TrimEnd();
    }

    private static string Message(Exception error) =>
        error is System.Reflection.TargetInvocationException { InnerException: { } inner } ? Message(inner) : $"{error.GetType().Name}: {error.Message}";
}

/// <summary>A scenario failed; the message lists every step with its status, the inner exception is the first failure.</summary>
public sealed class ScenarioFailedException(string message, Exception inner) : Exception(message, inner)
{
    public override string? StackTrace => InnerException?.StackTrace;
}
