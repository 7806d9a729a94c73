using Cucumber.HtmlFormatter;

namespace SpecKit.Features.Messages;

/// <summary>The official Cucumber HTML formatter on a messages stream: one self-contained HTML file.</summary>
public static class HtmlReport
{
    public static void Render(string messagesPath, string htmlPath, string title = "SpecKit")
    {
        using var input = new StreamReader(messagesPath);
        Render(input, htmlPath, title);
    }

    public static void Render(TextReader messages, string htmlPath, string title = "SpecKit") =>
        RenderAsync(messages, htmlPath, title).GetAwaiter().GetResult();

    public static async Task RenderAsync(TextReader messages, string htmlPath, string title = "SpecKit")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(htmlPath))!);
        await using var output = File.Create(htmlPath);
        await using var writer = new MessagesToHtmlWriter(
            output,
            (w, envelope) => w.WriteAsync(MessagesJson.Serialize(envelope)),
            new HtmlReportSettings { Title = title });
        foreach (var envelope in MessagesJson.ReadAll(messages))
        {
            await writer.WriteAsync(envelope);
        }
    }
}
