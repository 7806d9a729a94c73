using System.Text.RegularExpressions;
using SpecKit.Cli;
using SpecKit.Features.Messages;

namespace SpecKit.Report.Tests;

/// <summary><c>speckit report</c> on the small run's messages: one self-contained HTML file.</summary>
public class ReportCommandTests
{
    [Fact]
    public void The_report_command_writes_one_self_contained_html_file_with_every_message()
    {
        var html = Path.Combine(Path.GetDirectoryName(SmallRun.MessagesPath)!, "small-run.cli.html");
        File.Delete(html);
        Assert.Equal(0, ReportCommand.Run(new FileInfo(SmallRun.MessagesPath), new FileInfo(html), "Small run"));

        var text = File.ReadAllText(html);
        Assert.Contains("<title>Small run</title>", text);

        // Self-contained: no script, style or image is fetched from anywhere.
        Assert.DoesNotMatch(new Regex("<(script|link|img)[^>]+(src|href)=\"https?:", RegexOptions.IgnoreCase), text);

        // Every message is in the page, as the formatter embeds them.
        var lines = File.ReadAllLines(SmallRun.MessagesPath);
        foreach (var kind in new[] { "pickle", "testCase", "testStepFinished", "attachment", "testRunFinished" })
        {
            var expected = lines.Count(l => l.StartsWith("{\"" + kind + "\":", StringComparison.Ordinal));
            Assert.True(expected > 0, kind);
            Assert.Equal(expected, Regex.Matches(text, Regex.Escape("{\"" + kind + "\":")).Count);
        }
    }

    [Fact]
    public void The_stream_writes_the_same_report_as_it_goes()
    {
        var streamed = File.ReadAllText(SmallRun.HtmlPath);
        var rendered = Path.Combine(Path.GetDirectoryName(SmallRun.MessagesPath)!, "small-run.again.html");
        HtmlReport.Render(SmallRun.MessagesPath, rendered);
        Assert.Equal(File.ReadAllText(rendered), streamed);
    }

    /// <summary>The small run has the failed step the behaviour suite lacks: its hand-written line (with the exception) is System.Text.Json's too.</summary>
    [Fact]
    public void A_failed_steps_line_is_what_System_Text_Json_writes_for_it()
    {
        var lines = File.ReadAllLines(SmallRun.MessagesPath);
        var failed = lines.Where(l => l.StartsWith("{\"testStepFinished\":", StringComparison.Ordinal) && l.Contains("\"exception\":", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(failed);
        foreach (var line in lines)
        {
            Assert.Equal(MessagesJson.SerializeBySystemTextJson(MessagesJson.Deserialize(line)), line);
        }
    }

    [Fact]
    public void A_missing_stream_is_an_error_that_says_what_to_do()
    {
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(2, ReportCommand.Run(new FileInfo("/nonexistent/run.ndjson"), null, "x"));
        }
        finally
        {
            Console.SetError(previous);
        }

        Assert.Contains("SPECKIT_MESSAGES", error.ToString());
    }

    [Fact]
    public void The_failed_step_carries_expected_and_actual()
    {
        var failed = File.ReadAllLines(SmallRun.MessagesPath).Select(MessagesJson.Deserialize)
            .Select(e => e.TestStepFinished).Where(f => f?.TestStepResult.Status == Io.Cucumber.Messages.Types.TestStepResultStatus.FAILED).ToList();
        var step = Assert.Single(failed);
        Assert.Contains("Expected: 2", step!.TestStepResult.Message);
        Assert.Contains("Actual:   1", step.TestStepResult.Message);
    }
}
