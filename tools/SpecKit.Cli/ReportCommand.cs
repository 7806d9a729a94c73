using System.CommandLine;
using SpecKit.Features.Messages;

namespace SpecKit.Cli;

/// <summary><c>speckit report run.ndjson -o report.html</c>: a run's Cucumber Messages as the official HTML report.</summary>
internal sealed class ReportCommand : ICliCommand
{
    public Command Create()
    {
        var messages = new Argument<FileInfo>("messages") { Description = "The run's Cucumber Messages (NDJSON), e.g. TestResults/messages/SpecKit.Behaviour.Tests.ndjson" };
        var output = new Option<FileInfo>("--output", "-o") { Description = "The HTML file to write (default: beside the messages, .html)" };
        var title = new Option<string>("--title") { Description = "The report's title", DefaultValueFactory = _ => "SpecKit" };
        var command = new Command("report", "Render a run's Cucumber Messages as one self-contained HTML file (Cucumber's HTML formatter)") { messages, output, title };
        command.SetAction(result => Run(result.GetValue(messages)!, result.GetValue(output), result.GetValue(title)!));
        return command;
    }

    public static int Run(FileInfo messages, FileInfo? output, string title)
    {
        if (!messages.Exists)
        {
            Console.Error.WriteLine($"speckit report: {messages.FullName} does not exist (run the tests with SPECKIT_MESSAGES=<folder> first)");
            return 2;
        }

        var html = output?.FullName ?? Path.ChangeExtension(messages.FullName, ".html");
        try
        {
            HtmlReport.Render(messages.FullName, html, title);
        }
        catch (System.Text.Json.JsonException e)
        {
            Console.Error.WriteLine($"speckit report: {messages.FullName} is not a Cucumber Messages stream: {e.Message}");
            return 1;
        }

        Console.WriteLine(html);
        return 0;
    }
}
