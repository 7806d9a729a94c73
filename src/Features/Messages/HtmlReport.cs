using Cucumber.HtmlFormatter;
using Io.Cucumber.Messages.Types;

namespace SpecKit.Features.Messages;

/// <summary>
/// The official Cucumber HTML formatter on a messages stream: one self-contained HTML file.
/// It is fed envelope by envelope, so a test run can write its report as it goes and only
/// close it when the process exits (a test host may be stopped soon after its last test).
/// </summary>
public sealed class HtmlReport : IDisposable
{
    private readonly FileStream _output;
    private readonly MessagesToHtmlWriter _writer;

    /// <param name="customScript">JavaScript the page runs after the report's own (a test's checks).</param>
    public HtmlReport(string htmlPath, string title = "SpecKit", string? customScript = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(htmlPath))!);
        _output = File.Create(htmlPath);
        _writer = new MessagesToHtmlWriter(
            _output,
            (w, envelope) => w.WriteAsync(ReferenceEquals(envelope, _envelope) ? _json! : MessagesJson.Serialize(envelope)),
            new HtmlReportSettings { Title = title, CustomScript = customScript ?? "" });
    }

    private Envelope? _envelope;
    private string? _json;

    public void Write(Envelope envelope) => _writer.WriteAsync(envelope).GetAwaiter().GetResult();

    /// <summary>Writes an envelope the stream has already serialized, so the report does not serialize it again.</summary>
    public void Write(Envelope envelope, string json)
    {
        (_envelope, _json) = (envelope, json);
        Write(envelope);
        (_envelope, _json) = (null, null);
    }

    public void Dispose()
    {
        _writer.DisposeAsync().GetAwaiter().GetResult();
        _output.Dispose();
    }

    /// <summary>Renders a whole NDJSON stream.</summary>
    public static void Render(string messagesPath, string htmlPath, string title = "SpecKit", string? customScript = null)
    {
        using var input = new StreamReader(messagesPath);
        using var report = new HtmlReport(htmlPath, title, customScript);
        foreach (var envelope in MessagesJson.ReadAll(input))
        {
            report.Write(envelope);
        }
    }
}
