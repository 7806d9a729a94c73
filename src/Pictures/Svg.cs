using System.Globalization;
using System.Text;

namespace SpecKit.Pictures;

/// <summary>A small SVG writer: elements with invariant-culture numbers and escaped text.</summary>
internal sealed class Svg
{
    private readonly StringBuilder _body = new();

    public const string Font = "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\"";

    public void Rect(double x, double y, double w, double h, string fill, string stroke = "#333", double strokeWidth = 1, string? dash = null, double radius = 3, string? title = null)
    {
        _body.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x:0.#}\" y=\"{y:0.#}\" width=\"{w:0.#}\" height=\"{h:0.#}\" rx=\"{radius:0.#}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{strokeWidth:0.#}\"");
        if (dash is not null)
        {
            _body.Append(" stroke-dasharray=\"").Append(dash).Append('"');
        }

        if (title is null)
        {
            _body.Append("/>\n");
        }
        else
        {
            _body.Append("><title>").Append(Escape(title)).Append("</title></rect>\n");
        }
    }

    public void Text(double x, double y, string text, double size = 11, string fill = "#111", string anchor = "start", string weight = "normal") =>
        _body.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{y:0.#}\" font-size=\"{size:0.#}\" fill=\"{fill}\" text-anchor=\"{anchor}\" font-weight=\"{weight}\" {Font}>{Escape(text)}</text>\n");

    public void Line(double x1, double y1, double x2, double y2, string stroke = "#777", double width = 1) =>
        _body.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x1:0.#}\" y1=\"{y1:0.#}\" x2=\"{x2:0.#}\" y2=\"{y2:0.#}\" stroke=\"{stroke}\" stroke-width=\"{width:0.#}\"/>\n");

    public void Group(string svg, double dx, double dy) =>
        _body.Append(CultureInfo.InvariantCulture, $"<g transform=\"translate({dx:0.#},{dy:0.#})\">\n").Append(svg).Append("</g>\n");

    /// <summary>The document: its size and, for readers and screen readers, what it shows.</summary>
    public string Document(double width, double height, string title) =>
        string.Create(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Math.Ceiling(width)}\" height=\"{Math.Ceiling(height)}\" viewBox=\"0 0 {Math.Ceiling(width)} {Math.Ceiling(height)}\" role=\"img\">\n<title>{Escape(title)}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n{_body}</svg>\n");

    /// <summary>The inner elements only, to place inside another picture.</summary>
    public string Body => _body.ToString();

    public static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
