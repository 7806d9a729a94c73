using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SpecKit.Features;
using SpecKit.Features.Generated;
using SpecKit.Features.Messages;
using SpecKit.Testing;

namespace SpecKit.Behaviour;

/// <summary>
/// A generated scenario run as SPECKIT_MODEL runs it (<see cref="ModelSwitch.Use"/>, in this
/// process), with its messages recorded: what the report shows of a comparison. The scenario is
/// features/notifiers/change-pte.feature's "KSM merges one of two mapped pages: the SPTE tree",
/// whose steps pass under ChangePteStandalone and whose SPTE tree does not match the base's.
/// </summary>
[Trait("Category", "report")]
public class ModelSwitchReportTests
{
    private const string Snapshot = "the SPTE tree matches the snapshot";

    /// <summary>The scenario's test steps in order: pickle step text (or the hook's name), status, message; and its attachments' bodies.</summary>
    private sealed record Recorded(List<(string Text, string Status, string? Message)> Steps, List<(string MediaType, string Body)> Attachments, bool RunSucceeded, System.Exception? Error);

    private static Recorded Run(string? model)
    {
        var path = Path.Combine(RepoPaths.Root, "TestResults", "messages", $"model-switch-{model ?? "none"}-{Guid.NewGuid():N}.ndjson");
        var stream = MessageStream.OpenAt(path);
        System.Exception? error = null;
        using (MessageStream.Redirect(stream))
        using (model is null ? null : ModelSwitch.Use(model))
        {
            try
            {
                new Notifiers_ChangePte_Feature().KSMMergesOneOfTwoMappedPagesTheSPTETree();
            }
            catch (ScenarioFailedException e)
            {
                error = e;
            }
        }

        stream.Finish();
        var envelopes = File.ReadAllLines(path).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        File.Delete(path);
        var pickleSteps = envelopes.Where(e => e.ContainsKey("pickle")).SelectMany(e => e["pickle"]!["steps"]!.AsArray())
            .ToDictionary(s => s!["id"]!.GetValue<string>(), s => s!["text"]!.GetValue<string>());
        var testSteps = envelopes.Where(e => e.ContainsKey("testCase")).SelectMany(e => e["testCase"]!["testSteps"]!.AsArray())
            .ToDictionary(s => s!["id"]!.GetValue<string>(), s => s!["pickleStepId"]?.GetValue<string>() is { } id ? pickleSteps[id] : "hook " + s["hookId"]);
        var steps = envelopes.Where(e => e.ContainsKey("testStepFinished")).Select(e => e["testStepFinished"]!)
            .Select(f => (testSteps[f["testStepId"]!.GetValue<string>()], f["testStepResult"]!["status"]!.GetValue<string>(), f["testStepResult"]!["message"]?.GetValue<string>())).ToList();
        var attachments = envelopes.Where(e => e.ContainsKey("attachment")).Select(e => e["attachment"]!)
            .Select(a => (a["mediaType"]!.GetValue<string>(), a["contentEncoding"]!.GetValue<string>() == "BASE64"
                ? System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(a["body"]!.GetValue<string>()))
                : a["body"]!.GetValue<string>())).ToList();
        var succeeded = envelopes.Single(e => e.ContainsKey("testRunFinished"))["testRunFinished"]!["success"]!.GetValue<bool>();
        return new Recorded(steps, attachments, succeeded, error);
    }

    [Fact]
    public void A_scenario_that_differs_only_in_a_snapshot_is_failed_in_the_report_at_that_step()
    {
        var asWritten = Run(null);
        Assert.Null(asWritten.Error);
        Assert.All(asWritten.Steps, s => Assert.Equal("PASSED", s.Status));
        Assert.True(asWritten.RunSucceeded);

        var compared = Run("ChangePteStandalone");

        // The test's verdict: every step passed, the snapshot did not match.
        Assert.NotNull(compared.Error);
        Assert.StartsWith("Under SPECKIT_MODEL=ChangePteStandalone this scenario differs", compared.Error.Message, StringComparison.Ordinal);

        // The report's: the snapshot step failed with the diff, every other step passed, the run failed.
        var failed = Assert.Single(compared.Steps, s => s.Status != "PASSED");
        Assert.Equal((Snapshot, "FAILED"), (failed.Text, failed.Status));
        Assert.Contains("Under SPECKIT_MODEL=ChangePteStandalone the snapshot differs from the base model's", failed.Message, StringComparison.Ordinal);
        Assert.Matches(@"\n\+\s*4K gfn 0x42 -> host pfn", failed.Message);
        Assert.Equal(asWritten.Steps.Count, compared.Steps.Count);
        Assert.False(compared.RunSucceeded);
    }

    [Fact]
    public void The_snapshot_step_attaches_the_base_tree_beside_the_variants_with_the_difference_marked()
    {
        var compared = Run("ChangePteStandalone");
        var svg = Assert.Single(compared.Attachments, a => a.MediaType == "image/svg+xml" && a.Body.Contains("SPTEs: base and ChangePteStandalone", StringComparison.Ordinal)).Body;

        // Left the base's verified tree, right the variant's: gfn 0x42's leaf is new on the right
        // (the standalone .change_pte() kept it, on the merged page), the rest is the same.
        Assert.Contains("SPTEs: base and ChangePteStandalone: 1 difference<", svg, StringComparison.Ordinal);
        Assert.Contains(">base (its snapshot)</text>", svg, StringComparison.Ordinal);
        Assert.Contains(">ChangePteStandalone</text>", svg, StringComparison.Ordinal);
        Assert.Matches(@"<title>4K gfn 0x42 -&gt; host pfn 0x[0-9a-f]+ [W-][M-][H-][A-][D-][X-] \(new\)</title>", svg);
        Assert.Equal(1, Regex.Matches(svg, @"\((new|zapped|changed)\)</title>").Count);

        // Each side draws every line of its tree once: the base's 4 lines, the variant's 5.
        Assert.Equal(2, Regex.Matches(svg, @"<title>4K gfn 0x43 -&gt; host pfn 0x100043 WMHADX</title>").Count);
        Assert.Equal(2, Regex.Matches(svg, @"<title>Pml4e gfn 0x0</title>").Count);

        // The text attached beside it is the variant's tree, as the step compared it.
        Assert.Contains(compared.Attachments, a => a.MediaType == "text/plain" && a.Body.Contains("4K gfn 0x42 -> host pfn", StringComparison.Ordinal));
    }
}
