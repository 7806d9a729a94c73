using Cucumber.Messages;
using Io.Cucumber.Messages.Types;

namespace SpecKit.Features.Messages;

/// <summary>
/// One scenario's part of the stream: its pickle, the test case made of the hooks and steps
/// that ran (each step tied to its pickle step and its step definition, with where each
/// argument matched), their results and durations, and what the steps attached.
/// </summary>
internal sealed class ScenarioMessages
{
    private readonly MessageStream _stream;
    private readonly Pickle _pickle;
    private readonly string _testCaseId;
    private readonly string _testCaseStartedId;
    private readonly Timestamp _started = MessageStream.Now();
    private readonly List<TestStep> _steps = [];
    private readonly List<Envelope> _definitions = [];
    private readonly List<Envelope> _events = [];
    private int _nextPickleStep;
    private string? _currentStep;
    private bool _failed;

    private ScenarioMessages(MessageStream stream, Pickle pickle)
    {
        _stream = stream;
        _pickle = pickle;
        _testCaseId = stream.NextId("tc");
        _testCaseStartedId = stream.NextId("tcs");
        _definitions.Add(Envelope.Create(pickle));
    }

    /// <summary>The scenario's messages, or null when its feature or pickle cannot be found (it then runs without).</summary>
    public static ScenarioMessages? Start(MessageStream stream, ScenarioInfo info) =>
        stream.Feature(info.FeatureFile) is { } feature && feature.PickleFor(info.Line, info.ExampleLine) is { } pickle
            ? new ScenarioMessages(stream, pickle)
            : null;

    /// <summary>Starts the next pickle step, bound to <paramref name="definition"/> with its arguments at <paramref name="arguments"/> (start, length pairs).</summary>
    public void BeginStep(StepDefinitionInfo? definition, string text, ReadOnlySpan<int> arguments)
    {
        if (_nextPickleStep >= _pickle.Steps.Count)
        {
            _currentStep = null;
            return;
        }

        var pickleStep = _pickle.Steps[_nextPickleStep++];
        var definitions = new List<string>();
        var matches = new List<StepMatchArgumentsList>();
        if (definition is not null)
        {
            definitions.Add(definition.Id);
            if (!_stream.Written(definition.Id))
            {
                _definitions.Add(Envelope.Create(new StepDefinition(
                    definition.Id,
                    new StepDefinitionPattern(definition.Pattern, definition.IsRegex ? StepDefinitionPatternType.REGULAR_EXPRESSION : StepDefinitionPatternType.CUCUMBER_EXPRESSION),
                    Reference(definition.SourcePath, definition.Line))));
            }

            var list = new List<StepMatchArgument>();
            for (var i = 0; i + 1 < arguments.Length; i += 2)
            {
                var (start, length) = (arguments[i], arguments[i + 1]);
                var value = start >= 0 && start + length <= text.Length ? text.Substring(start, length) : null;
                var typeName = i / 2 < definition.ParameterTypeNames.Count && definition.ParameterTypeNames[i / 2].Length > 0 ? definition.ParameterTypeNames[i / 2] : null;
                list.Add(new StepMatchArgument(new Group([], start >= 0 ? start : null, value), typeName));
            }

            matches.Add(new StepMatchArgumentsList(list));
        }

        var id = _stream.NextId("ts");
        _steps.Add(new TestStep(null, id, pickleStep.Id, definitions, matches));
        Begin(id);
    }

    public void BeginHook(HookInfo? hook, string name, bool after)
    {
        var hookId = hook?.Id ?? name;
        _definitions.Add(Envelope.Create(new Hook(
            hookId,
            name,
            hook is null ? new SourceReference(null, null, null, null) : Reference(hook.SourcePath, hook.Line),
            hook is null || hook.TagExpression.Length == 0 ? null : hook.TagExpression,
            after ? HookType.AFTER_TEST_CASE : HookType.BEFORE_TEST_CASE)));
        var id = _stream.NextId("ts");
        _steps.Add(new TestStep(hookId, id, null, null, null));
        Begin(id);
    }

    private void Begin(string testStepId)
    {
        _currentStep = testStepId;
        _events.Add(Envelope.Create(new TestStepStarted(_testCaseStartedId, testStepId, MessageStream.Now())));
    }

    /// <summary>Ends the step begun last with its status ("passed", "failed", "skipped"), how long it took, and its failure.</summary>
    public void End(string status, TimeSpan duration, System.Exception? error, string? message)
    {
        if (_currentStep is null)
        {
            return;
        }

        var result = status switch
        {
            "passed" => TestStepResultStatus.PASSED,
            "skipped" => TestStepResultStatus.SKIPPED,
            _ => TestStepResultStatus.FAILED,
        };
        _failed |= result == TestStepResultStatus.FAILED;
        var exception = error is null ? null : new Io.Cucumber.Messages.Types.Exception(error.GetType().FullName ?? error.GetType().Name, message, error.StackTrace);
        _events.Add(Envelope.Create(new TestStepFinished(_testCaseStartedId, _currentStep, new TestStepResult(Converters.ToDuration(duration), message, result, exception), MessageStream.Now())));
        _currentStep = null;
    }

    /// <summary>An attachment to the step running now (text as it is; binary content base64).</summary>
    public void Attach(string body, string mediaType, string? fileName, bool base64)
    {
        _events.Add(Envelope.Create(new Attachment(
            body,
            base64 ? AttachmentContentEncoding.BASE64 : AttachmentContentEncoding.IDENTITY,
            fileName,
            mediaType,
            null,
            _testCaseStartedId,
            _currentStep,
            null,
            null,
            null,
            MessageStream.Now())));
    }

    /// <summary>Writes the scenario's messages to the stream, in the order the schema's readers expect.</summary>
    public void Finish()
    {
        var scenario = new List<Envelope>(_events.Count + 3)
        {
            Envelope.Create(new TestCase(_testCaseId, _pickle.Id, _steps, _stream.TestRunStartedId)),
            Envelope.Create(new TestCaseStarted(0, _testCaseStartedId, _testCaseId, Environment.CurrentManagedThreadId.ToString(System.Globalization.CultureInfo.InvariantCulture), _started)),
        };
        scenario.AddRange(_events);
        scenario.Add(Envelope.Create(new TestCaseFinished(_testCaseStartedId, MessageStream.Now(), false)));
        _stream.WriteScenario(_definitions, scenario, _failed);
    }

    private static SourceReference Reference(string path, int line)
    {
        var uri = path;
        var root = SpecKit.Testing.RepoPaths.Root;
        if (Path.IsPathRooted(path) && path.StartsWith(root, StringComparison.Ordinal))
        {
            uri = SpecKit.Testing.RepoPaths.Relative(path);
        }

        return new SourceReference(uri, null, null, new Location(line, null));
    }
}
