using System.Text.Json;
using Io.Cucumber.Messages.Types;

namespace SpecKit.Features.Messages;

/// <summary>
/// The messages every step and scenario writes (testCase, testCaseStarted, testStepStarted,
/// testStepFinished, attachment, testCaseFinished: 90 % of the behaviour suite's lines),
/// written straight to the JSON writer. System.Text.Json spent most of a run's message cost on
/// these small, nested objects (a write-stack frame per nested object, MessagesBench), not on
/// their bytes. The output is byte for byte what <see cref="MessagesJson.Options"/> writes:
/// properties in the types' declaration order, nulls left out, enums as the schema spells them,
/// which MessagesTests checks on every line of the suite's stream. Any other message, or one of
/// these with a field this writer does not know, goes to System.Text.Json.
/// </summary>
internal static class LifecycleJson
{
    public static bool TryWrite(Utf8JsonWriter w, Envelope envelope)
    {
        switch (envelope)
        {
            case { TestStepStarted: { } started }:
                w.WriteStartObject();
                w.WriteStartObject("testStepStarted");
                w.WriteString("testCaseStartedId", started.TestCaseStartedId);
                w.WriteString("testStepId", started.TestStepId);
                Timestamp(w, "timestamp", started.Timestamp);
                w.WriteEndObject();
                w.WriteEndObject();
                return true;
            case { TestStepFinished: { } finished }:
                w.WriteStartObject();
                w.WriteStartObject("testStepFinished");
                w.WriteString("testCaseStartedId", finished.TestCaseStartedId);
                w.WriteString("testStepId", finished.TestStepId);
                Result(w, finished.TestStepResult);
                Timestamp(w, "timestamp", finished.Timestamp);
                w.WriteEndObject();
                w.WriteEndObject();
                return true;
            case { TestCase: { } testCase }:
                w.WriteStartObject();
                w.WriteStartObject("testCase");
                w.WriteString("id", testCase.Id);
                w.WriteString("pickleId", testCase.PickleId);
                w.WriteStartArray("testSteps");
                foreach (var step in testCase.TestSteps)
                {
                    TestStep(w, step);
                }

                w.WriteEndArray();
                OptionalString(w, "testRunStartedId", testCase.TestRunStartedId);
                w.WriteEndObject();
                w.WriteEndObject();
                return true;
            case { TestCaseStarted: { } started }:
                w.WriteStartObject();
                w.WriteStartObject("testCaseStarted");
                w.WriteNumber("attempt", started.Attempt);
                w.WriteString("id", started.Id);
                w.WriteString("testCaseId", started.TestCaseId);
                OptionalString(w, "workerId", started.WorkerId);
                Timestamp(w, "timestamp", started.Timestamp);
                w.WriteEndObject();
                w.WriteEndObject();
                return true;
            case { TestCaseFinished: { } finished }:
                w.WriteStartObject();
                w.WriteStartObject("testCaseFinished");
                w.WriteString("testCaseStartedId", finished.TestCaseStartedId);
                Timestamp(w, "timestamp", finished.Timestamp);
                w.WriteBoolean("willBeRetried", finished.WillBeRetried);
                w.WriteEndObject();
                w.WriteEndObject();
                return true;
            case { Attachment: { Source: null, Url: null, TestRunHookStartedId: null } attachment }:
                w.WriteStartObject();
                w.WriteStartObject("attachment");
                w.WriteString("body", attachment.Body);
                w.WriteString("contentEncoding", SchemaEnum<AttachmentContentEncoding>.Value(attachment.ContentEncoding));
                OptionalString(w, "fileName", attachment.FileName);
                w.WriteString("mediaType", attachment.MediaType);
                OptionalString(w, "testCaseStartedId", attachment.TestCaseStartedId);
                OptionalString(w, "testStepId", attachment.TestStepId);
                OptionalString(w, "testRunStartedId", attachment.TestRunStartedId);
                if (attachment.Timestamp is { } at)
                {
                    Timestamp(w, "timestamp", at);
                }

                w.WriteEndObject();
                w.WriteEndObject();
                return true;
            default:
                return false;
        }
    }

    private static void TestStep(Utf8JsonWriter w, TestStep step)
    {
        w.WriteStartObject();
        OptionalString(w, "hookId", step.HookId);
        w.WriteString("id", step.Id);
        OptionalString(w, "pickleStepId", step.PickleStepId);
        if (step.StepDefinitionIds is { } definitions)
        {
            w.WriteStartArray("stepDefinitionIds");
            foreach (var definition in definitions)
            {
                w.WriteStringValue(definition);
            }

            w.WriteEndArray();
        }

        if (step.StepMatchArgumentsLists is { } lists)
        {
            w.WriteStartArray("stepMatchArgumentsLists");
            foreach (var list in lists)
            {
                w.WriteStartObject();
                w.WriteStartArray("stepMatchArguments");
                foreach (var argument in list.StepMatchArguments)
                {
                    w.WriteStartObject();
                    Group(w, "group", argument.Group);
                    OptionalString(w, "parameterTypeName", argument.ParameterTypeName);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void Group(Utf8JsonWriter w, string? name, Group group)
    {
        if (name is null)
        {
            w.WriteStartObject();
        }
        else
        {
            w.WriteStartObject(name);
        }

        if (group.Children is { } children)
        {
            w.WriteStartArray("children");
            foreach (var child in children)
            {
                Group(w, null, child);
            }

            w.WriteEndArray();
        }
        if (group.Start is { } start)
        {
            w.WriteNumber("start", start);
        }

        OptionalString(w, "value", group.Value);
        w.WriteEndObject();
    }

    private static void Result(Utf8JsonWriter w, TestStepResult result)
    {
        w.WriteStartObject("testStepResult");
        w.WriteStartObject("duration");
        w.WriteNumber("seconds", result.Duration.Seconds);
        w.WriteNumber("nanos", result.Duration.Nanos);
        w.WriteEndObject();
        OptionalString(w, "message", result.Message);
        w.WriteString("status", SchemaEnum<TestStepResultStatus>.Value(result.Status));
        if (result.Exception is { } e)
        {
            w.WriteStartObject("exception");
            w.WriteString("type", e.Type);
            OptionalString(w, "message", e.Message);
            OptionalString(w, "stackTrace", e.StackTrace);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void Timestamp(Utf8JsonWriter w, string name, Timestamp timestamp)
    {
        w.WriteStartObject(name);
        w.WriteNumber("seconds", timestamp.Seconds);
        w.WriteNumber("nanos", timestamp.Nanos);
        w.WriteEndObject();
    }

    private static void OptionalString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }
}
