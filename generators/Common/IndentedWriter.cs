using System;
using System.Globalization;
using System.Text;

namespace SpecKit.Generators;

/// <summary>
/// Writes generated C# line by line with indentation, always LF and invariant culture,
/// so that the output is byte-identical on every machine.
/// </summary>
internal sealed class IndentedWriter
{
    private readonly StringBuilder _text = new();
    private int _depth;

    public IndentedWriter Line(string line = "")
    {
        if (line.Length > 0)
        {
            _text.Append(' ', _depth * 4);
            _text.Append(line);
        }

        _text.Append('\n');
        return this;
    }

    public IndentedWriter Line(FormattableString line) => Line(line.ToString(CultureInfo.InvariantCulture));

    /// <summary>Writes <paramref name="header"/>, an opening brace, and indents until the returned scope ends.</summary>
    public Scope Block(string header, string close = "}")
    {
        if (header.Length > 0)
        {
            Line(header);
        }

        Line("{");
        _depth++;
        return new Scope(this, close);
    }

    public IndentedWriter Comment(string text)
    {
        foreach (var part in text.Split('\n'))
        {
            Line("// " + part.TrimEnd());
        }

        return this;
    }

    public override string ToString() => _text.ToString();

    internal readonly struct Scope : IDisposable
    {
        private readonly IndentedWriter _writer;
        private readonly string _close;

        public Scope(IndentedWriter writer, string close)
        {
            _writer = writer;
            _close = close;
        }

        public void Dispose()
        {
            _writer._depth--;
            _writer.Line(_close);
        }
    }
}
