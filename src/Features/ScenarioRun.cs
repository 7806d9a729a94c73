using System.Text;
using SpecKit.Features.Messages;
using SpecKit.Testing;

namespace SpecKit.Features;

/// <summary>
/// Runs one scenario's hooks and steps in order and reports like a person would: which
/// feature file and line, which step failed and why (the assertion's expected and actual),
/// and which steps were skipped after it.
/// </summary>
public sealed class ScenarioRun
{
    private readonly List<(string Status, string Keyword, string Text, int Line, Exception? Error)> _log = [];
    private readonly ScenarioMessages? _messages;
    private Exception? _firstError;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public ScenarioRun(ScenarioContext context)
    {
        Context = context;

        // The stream is named after the test assembly, the generated test's that makes this run;
        // only the run's first scenario opens it, so only it pays for the stack walk.
        if (MessageStream.Enabled && (MessageStream.Opened(out var opened) ? opened : MessageStream.For(new System.Diagnostics.StackFrame(1, false).GetMethod()?.DeclaringType?.Assembly ?? typeof(ScenarioRun).Assembly)) is { } stream)
        {
            _messages = ScenarioMessages.Start(stream, context.Info);
            context.Messages = _messages;
        }
    }

    public ScenarioContext Context { get; }

    public bool Failed => _firstError is not null;

    /// <summary>Runs a step unless an earlier step or hook failed, in which case it is reported as skipped.</summary>
    public void Step(string keyword, string text, int line, Action body) => Step(keyword, text, line, null, [], body);

    /// <summary>
    /// Runs a step bound to <paramref name="definition"/>, its arguments at <paramref name="arguments"/>
    /// (start and length pairs in <paramref name="text"/>), unless an earlier step or hook failed.
    /// </summary>
    public void Step(string keyword, string text, int line, StepDefinitionInfo? definition, ReadOnlySpan<int> arguments, Action body)
    {
        _messages?.BeginStep(definition, text, arguments);
        if (Failed)
        {
            _log.Add(("skipped", keyword, text, line, null));
            _messages?.End("skipped", TimeSpan.Zero, null, null);
            return;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var differences = Context.SnapshotDifferences.Count;
        try
        {
            Context.CurrentStep = (keyword, text, line);
            body();
            if (Context.SnapshotDifferences.Count > differences)
            {
                // Under SPECKIT_MODEL a snapshot that differs does not stop the scenario (every
                // snapshot is compared), but it is the step's verdict, and the report's.
                var difference = new SnapshotMismatchException(string.Join("\n", Context.SnapshotDifferences.Skip(differences)));
                _log.Add(("DIFFERS", keyword, text, line, null));
                _messages?.End("failed", System.Diagnostics.Stopwatch.GetElapsedTime(started), difference, $"Under SPECKIT_MODEL={Context.ComparedModel} the snapshot differs from the base model's:\n{difference.Message}");
                return;
            }

            _log.Add(("passed", keyword, text, line, null));
            _messages?.End("passed", System.Diagnostics.Stopwatch.GetElapsedTime(started), null, null);
        }
        catch (Exception e)
        {
            _firstError = e;
            _log.Add(("FAILED", keyword, text, line, e));
            _messages?.End("failed", System.Diagnostics.Stopwatch.GetElapsedTime(started), Inner(e), Message(e));
        }
    }

    /// <summary>A before-hook failing fails the scenario; after-hooks run even after a failure.</summary>
    public void Hook(string name, bool after, Action body) => Hook(name, after, null, body);

    public void Hook(string name, bool after, HookInfo? hook, Action body)
    {
        if (Failed && !after)
        {
            return;
        }

        _messages?.BeginHook(hook, name, after);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            body();
            _messages?.End("passed", System.Diagnostics.Stopwatch.GetElapsedTime(started), null, null);
        }
        catch (Exception e)
        {
            _firstError ??= e;
            _log.Add(("FAILED", "Hook", name, Context.Info.Line, e));
            _messages?.End("failed", System.Diagnostics.Stopwatch.GetElapsedTime(started), Inner(e), Message(e));
        }
    }

    /// <summary>
    /// Throws <see cref="ScenarioFailedException"/> if anything failed; the first error is its
    /// inner exception. Under SPECKIT_MODEL a scenario that ran another model in place of the
    /// base one passes when it came out the same and fails with what differs.
    /// </summary>
    public void Complete()
    {
        _messages?.Finish();
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

    private static Exception Inner(Exception error) =>
        error is System.Reflection.TargetInvocationException { InnerException: { } inner } ? Inner(inner) : error;

    private static string Message(Exception error) =>
        error is System.Reflection.TargetInvocationException { InnerException: { } inner } ? Message(inner) : $"{error.GetType().Name}: {error.Message}";
}

/// <summary>A scenario failed; the message lists every step with its status, the inner exception is the first failure.</summary>
public sealed class ScenarioFailedException(string message, Exception inner) : Exception(message, inner)
{
    public override string? StackTrace => InnerException?.StackTrace;
}
