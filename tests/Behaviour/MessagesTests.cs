using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using SpecKit.Features.Messages;
using SpecKit.Testing;

namespace SpecKit.Behaviour;

/// <summary>
/// The behaviour suite's Cucumber Messages: every generated scenario is run again in this test
/// with its messages sent to a stream of its own (TestResults/messages/behaviour.ndjson), and
/// each line is checked against the messages JSON schema (Messages/messages.schema.json, the
/// bundled schema of github.com/cucumber/messages, jsonschema/messages.schema.json at 688565aa),
/// then the references between messages are followed. It runs the suite a second time, so it
/// is a test of the report (Category=report) and not part of the behaviour command's edit loop.
/// </summary>
[Trait("Category", "report")]
public class MessagesTests
{
    private static readonly Lazy<string> Stream = new(RecordSuite);

    /// <summary>How many scenario tests the recording ran: one test case each (a @kvm scenario has one per backend).</summary>
    private static int Ran;

    /// <summary>Runs every generated scenario test with its messages redirected; a failing scenario is recorded as failed, as in any run.</summary>
    private static string RecordSuite()
    {
        var path = Path.Combine(RepoPaths.Root, "TestResults", "messages", "behaviour.ndjson");
        var stream = MessageStream.OpenAt(path);
        using (MessageStream.Redirect(stream))
        {
            foreach (var type in typeof(MessagesTests).Assembly.GetTypes().Where(t => t.Namespace == "SpecKit.Features.Generated" && t.GetField("Scenarios") is not null).OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                var instance = Activator.CreateInstance(type);
                // A test this machine skips (a @kvm scenario's kernel test without /dev/kvm) is not run here either.
                foreach (var test in type.GetMethods().Where(m => m.GetCustomAttribute<FactAttribute>() is { Skip: null }))
                {
                    Ran++;
                    try
                    {
                        test.Invoke(instance, null);
                    }
                    catch (TargetInvocationException)
                    {
                        // Its messages say how it failed; its own test fails it.
                    }
                }
            }
        }

        stream.Finish();
        return path;
    }

    [Fact]
    public void Every_message_of_the_suite_is_valid_against_the_schema()
    {
        var schema = JsonSchema.FromFile(Path.Combine(RepoPaths.Root, "tests", "Behaviour", "Messages", "messages.schema.json"));
        // The check can fail: a status the schema does not know is rejected.
        using (var bad = JsonDocument.Parse("""{"testStepFinished":{"testCaseStartedId":"1","testStepId":"2","testStepResult":{"duration":{"seconds":0,"nanos":0},"status":"GREEN"},"timestamp":{"seconds":0,"nanos":0}}}"""))
        {
            Assert.False(schema.Evaluate(bad.RootElement).IsValid);
        }

        var invalid = new List<string>();
        var lines = File.ReadAllLines(Stream.Value);
        for (var i = 0; i < lines.Length; i++)
        {
            using var document = JsonDocument.Parse(lines[i]);
            var result = schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (!result.IsValid)
            {
                var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"));
                invalid.Add($"line {i + 1}: {string.Join("; ", errors.Take(5))}\n    {lines[i][..Math.Min(300, lines[i].Length)]}");
            }
        }

        Assert.True(invalid.Count == 0, $"{invalid.Count} of {lines.Length} messages are invalid:\n" + string.Join("\n", invalid.Take(20)));
        Assert.True(lines.Length > 1000, $"only {lines.Length} messages");
    }

    /// <summary>
    /// The lines LifecycleJson writes by hand are what System.Text.Json writes for the same
    /// message (read back, written again), so the hand-written path cannot drift from the types.
    /// </summary>
    [Fact]
    public void Every_line_is_what_System_Text_Json_writes_for_its_message()
    {
        var differing = new List<string>();
        var kinds = new HashSet<string>();
        foreach (var line in File.ReadLines(Stream.Value))
        {
            var envelope = MessagesJson.Deserialize(line);
            kinds.Add(JsonNode.Parse(line)!.AsObject().Single().Key);
            var expected = MessagesJson.SerializeBySystemTextJson(envelope);
            if (expected != line)
            {
                differing.Add($"written: {line[..Math.Min(300, line.Length)]}\n    System.Text.Json: {expected[..Math.Min(300, expected.Length)]}");
            }
        }

        Assert.True(differing.Count == 0, $"{differing.Count} lines differ:\n" + string.Join("\n", differing.Take(10)));
        Assert.Superset(new HashSet<string> { "testCase", "testCaseStarted", "testStepStarted", "testStepFinished", "attachment", "testCaseFinished" }, kinds);
    }

    [Fact]
    public void Every_reference_between_the_suites_messages_resolves()
    {
        var envelopes = File.ReadAllLines(Stream.Value).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var kinds = envelopes.Select(e => e.Single().Key).ToList();
        Assert.Equal("meta", kinds[0]);
        Assert.Equal("testRunStarted", kinds[1]);
        Assert.Equal("testRunFinished", kinds[^1]);

        var problems = new List<string>();
        var pickles = new Dictionary<string, HashSet<string>>();
        var definitions = new HashSet<string>();
        var hooks = new HashSet<string>();
        var testSteps = new Dictionary<string, string>();
        var started = new Dictionary<string, string>();
        var open = new HashSet<string>();
        var ranPickles = new HashSet<string>();
        var scenarios = typeof(MessagesTests).Assembly.GetTypes()
            .Select(t => t.GetField("Scenarios", BindingFlags.Public | BindingFlags.Static)?.GetValue(null))
            .OfType<SpecKit.Features.ScenarioInfo[]>().Sum(s => s.Length);
        foreach (var envelope in envelopes)
        {
            var (kind, node) = envelope.Single();
            var id = node!["id"]?.GetValue<string>();
            switch (kind)
            {
                case "pickle":
                    pickles[id!] = node["steps"]!.AsArray().Select(s => s!["id"]!.GetValue<string>()).ToHashSet();
                    break;
                case "stepDefinition":
                    definitions.Add(id!);
                    break;
                case "hook":
                    hooks.Add(id!);
                    break;
                case "testCase":
                    var pickleId = node["pickleId"]!.GetValue<string>();
                    ranPickles.Add(pickleId);
                    if (!pickles.TryGetValue(pickleId, out var pickleSteps))
                    {
                        problems.Add($"testCase {id} names pickle {pickleId}, not written before it");
                        pickleSteps = [];
                    }

                    foreach (var step in node["testSteps"]!.AsArray())
                    {
                        testSteps[step!["id"]!.GetValue<string>()] = id!;
                        if (step["pickleStepId"]?.GetValue<string>() is { } pickleStep && !pickleSteps.Contains(pickleStep))
                        {
                            problems.Add($"test step {step["id"]} names pickle step {pickleStep}, not in pickle {pickleId}");
                        }

                        if (step["hookId"]?.GetValue<string>() is { } hook && !hooks.Contains(hook))
                        {
                            problems.Add($"test step {step["id"]} names hook {hook}, not written before it");
                        }

                        foreach (var definition in step["stepDefinitionIds"]?.AsArray() ?? [])
                        {
                            if (!definitions.Contains(definition!.GetValue<string>()))
                            {
                                problems.Add($"test step {step["id"]} names step definition {definition}, not written before it");
                            }
                        }
                    }

                    break;
                case "testCaseStarted":
                    started[id!] = node["testCaseId"]!.GetValue<string>();
                    break;
                case "testStepStarted":
                    open.Add(node["testStepId"]!.GetValue<string>());
                    break;
                case "testStepFinished":
                    var testStep = node["testStepId"]!.GetValue<string>();
                    if (!open.Remove(testStep) || !testSteps.ContainsKey(testStep) || !started.ContainsKey(node["testCaseStartedId"]!.GetValue<string>()))
                    {
                        problems.Add($"testStepFinished for {testStep} without its test case or start");
                    }

                    break;
                case "attachment":
                    if (!started.ContainsKey(node["testCaseStartedId"]!.GetValue<string>()))
                    {
                        problems.Add("an attachment outside any test case");
                    }

                    break;
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(20)));
        Assert.Empty(open);
        Assert.Equal(Ran, kinds.Count(k => k == "testCase"));
        Assert.True(Ran > 200, $"only {Ran} scenario tests ran");
        // A scenario tagged @kvm is one pickle run as two test cases (the model, the kernel).
        Assert.Equal(scenarios, ranPickles.Count);
    }
}
