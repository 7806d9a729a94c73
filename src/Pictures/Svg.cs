using System.Globalization;
using System.Text;

namespace SpecKit.Pictures;

/// <summary>A small SVG writer: elements with invariant-culture numbers and escaped text.</summary>
internal sealed class Svg
{
    private readonly StringBuilder _body = new();
    private readonly StringBuilder _defs = new();

    public const string Font = "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\"";

    /// <summary>The text colour the document gives every text element that names none.</summary>
    public const string Ink = "#111";

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
            _body.Append("><title>");
            AppendEscaped(title);
            _body.Append("</title></rect>\n");
        }
    }

    /// <summary>A line of text; the font, the ink (#111), start anchoring and normal weight are the document's, so only what differs is written.</summary>
    public void Text(double x, double y, string text, double size = 11, string fill = Ink, string anchor = "start", string weight = "normal")
    {
        _body.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{y:0.#}\" font-size=\"{size:0.#}\"");
        if (fill != Ink)
        {
            _body.Append(" fill=\"").Append(fill).Append('"');
        }

        if (anchor != "start")
        {
            _body.Append(" text-anchor=\"").Append(anchor).Append('"');
        }

        if (weight != "normal")
        {
            _body.Append(" font-weight=\"").Append(weight).Append('"');
        }

        _body.Append('>');
        AppendEscaped(text);
        _body.Append("</text>\n");
    }

    public void Line(double x1, double y1, double x2, double y2, string stroke = "#777", double width = 1) =>
        _body.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x1:0.#}\" y1=\"{y1:0.#}\" x2=\"{x2:0.#}\" y2=\"{y2:0.#}\" stroke=\"{stroke}\" stroke-width=\"{width:0.#}\"/>\n");

    public void Group(string svg, double dx, double dy) =>
        _body.Append(CultureInfo.InvariantCulture, $"<g transform=\"translate({dx:0.#},{dy:0.#})\">\n").Append(svg).Append("</g>\n");

    /// <summary>A tile pattern (<c>fill="url(#id)"</c>), its tiles laid from (x, y) in the picture's units.</summary>
    public void Pattern(string id, double x, double y, double width, double height, string tile) =>
        _defs.Append(CultureInfo.InvariantCulture, $"<pattern id=\"{id}\" x=\"{x:0.#}\" y=\"{y:0.#}\" width=\"{width:0.#}\" height=\"{height:0.#}\" patternUnits=\"userSpaceOnUse\">").Append(tile).Append("</pattern>\n");

    /// <summary>The document: its size and, for readers and screen readers, what it shows.</summary>
    public string Document(double width, double height, string title) =>
        string.Create(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Math.Ceiling(width)}\" height=\"{Math.Ceiling(height)}\" viewBox=\"0 0 {Math.Ceiling(width)} {Math.Ceiling(height)}\" role=\"img\" {Font} fill=\"{Ink}\">\n<title>{Escape(title)}</title>\n{(_defs.Length == 0 ? "" : $"<defs>\n{_defs}</defs>\n")}<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n{_body}</svg>\n");

    /// <summary>The inner elements only, to place inside another picture.</summary>
    public string Body => _body.ToString();

    private void AppendEscaped(string text)
    {
        if (text.AsSpan().IndexOfAny("&<>\"") < 0)
        {
            _body.Append(text);
            return;
        }

        _body.Append(Escape(text));
    }

    public static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
