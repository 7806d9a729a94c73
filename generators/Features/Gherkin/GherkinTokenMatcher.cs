using System;
using System.Collections.Generic;
using System.Text;
using System.Text.RegularExpressions;

namespace SpecKit.Generators.Features.Gherkin;

// The scanner half of the parser: Gherkin is line-oriented, so every line is one token,
// and what kind of token it is depends on what the parser is willing to accept next. The
// parser therefore asks "is this line a <kind>?" in a fixed order, and the matcher answers.

/// <summary>The kinds of line, named as in the reference grammar (error messages print them).</summary>
internal enum TokenType
{
    EOF,
    Empty,
    Comment,
    TagLine,
    FeatureLine,
    RuleLine,
    BackgroundLine,
    ScenarioLine,
    ExamplesLine,
    StepLine,
    DocStringSeparator,
    TableRow,
    Language,
    Other,
}

/// <summary>One line of the source, or the end of the file (Text null).</summary>
internal sealed class GherkinLine
{
    public GherkinLine(int number, string? text)
    {
        Number = number;
        Text = text;
        Trimmed = text?.TrimStart() ?? "";
        Indent = (text?.Length ?? 0) - Trimmed.Length;
    }

    /// <summary>1-based line number; the end of the file is the line after the last.</summary>
    public int Number { get; }

    public string? Text { get; }

    public bool IsEof => Text is null;

    /// <summary>The text without its indentation.</summary>
    public string Trimmed { get; }

    /// <summary>How many whitespace characters the line starts with.</summary>
    public int Indent { get; }

    public bool StartsWith(string prefix) => Trimmed.StartsWith(prefix, StringComparison.Ordinal);

    /// <summary>
    /// Splits a text into lines the way TextReader.ReadLine does (\n, \r\n or \r; no empty
    /// line after a final line break), which fixes the end-of-file line number in errors.
    /// </summary>
    public static List<GherkinLine> Split(string text)
    {
        var lines = new List<GherkinLine>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '\n' or '\r')
            {
                lines.Add(new GherkinLine(lines.Count + 1, text.Substring(start, i - start)));
                if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }

                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(new GherkinLine(lines.Count + 1, text.Substring(start)));
        }

        return lines;
    }
}

/// <summary>A tag or a table cell: where it starts (1-based column) and its text.</summary>
internal readonly record struct LineItem(int Column, string Text);

/// <summary>A line recognised as a token of some type, with what was read from it.</summary>
internal sealed record Token(
    TokenType Type,
    GherkinLine Line,
    Location Location,
    GherkinDialect Dialect,
    string Keyword = "",
    string Text = "",
    IReadOnlyList<LineItem>? Items = null);

/// <summary>
/// Decides whether a line is a token of a given type. It has state: the current dialect
/// (set by a <c># language:</c> header) and whether a doc string is open (which changes
/// how its lines and its closing delimiter are read). Problems found in a line (unknown
/// language, whitespace in a tag) are reported and the line then does not match.
/// </summary>
internal sealed class GherkinTokenMatcher
{
    private static readonly Regex LanguagePattern =
        new(@"^\s*#\s*language\s*:\s*([a-zA-Z\-_]+)\s*$", RegexOptions.CultureInvariant);

    // Only these count as padding around tags and cells; a \n in a cell comes from an
    // escape and is content.
    private static readonly char[] InlineWhitespace = [' ', '\t', '\u00A0', '\v', '\f', '\r', '\u0085'];

    private readonly Action<GherkinError> _report;
    private string? _docStringDelimiter;
    private int _docStringIndent;

    public GherkinTokenMatcher(Action<GherkinError> report) => _report = report;

    public GherkinDialect Dialect { get; private set; } = GherkinDialects.Default;

    /// <summary>The token the line is if it is one of the given type, else null.</summary>
    public Token? Match(TokenType type, GherkinLine line)
    {
        if (line.IsEof)
        {
            return type == TokenType.EOF ? Make(type, line, column: 0) : null;
        }

        return type switch
        {
            TokenType.Empty => line.Trimmed.Length == 0 ? Make(type, line) : null,
            TokenType.Comment => line.StartsWith("#") ? Make(type, line, column: 1, text: line.Text!) : null,
            TokenType.Language => MatchLanguage(line),
            TokenType.TagLine => line.StartsWith("@") ? MatchTags(line) : null,
            TokenType.FeatureLine => MatchTitle(type, line, Dialect.FeatureKeywords),
            TokenType.RuleLine => MatchTitle(type, line, Dialect.RuleKeywords),
            TokenType.BackgroundLine => MatchTitle(type, line, Dialect.BackgroundKeywords),
            TokenType.ScenarioLine => MatchTitle(type, line, Dialect.ScenarioKeywords)
                ?? MatchTitle(type, line, Dialect.ScenarioOutlineKeywords),
            TokenType.ExamplesLine => MatchTitle(type, line, Dialect.ExamplesKeywords),
            TokenType.StepLine => MatchStep(line),
            TokenType.DocStringSeparator => MatchDocStringSeparator(line),
            TokenType.TableRow => line.StartsWith("|") ? Make(type, line, items: SplitCells(line)) : null,
            TokenType.Other => MatchOther(line),
            _ => null,
        };
    }

    private Token Make(
        TokenType type,
        GherkinLine line,
        int? column = null,
        string keyword = "",
        string text = "",
        IReadOnlyList<LineItem>? items = null) =>
        new(type, line, new Location(line.Number, column ?? line.Indent + 1), Dialect, keyword, text, items);

    private Token? MatchLanguage(GherkinLine line)
    {
        var match = LanguagePattern.Match(line.Text!);
        if (!match.Success)
        {
            return null;
        }

        var language = match.Groups[1].Value;
        if (GherkinDialects.TryGet(language) is not { } dialect)
        {
            _report(new GherkinError($"Language not supported: {language}", line.Number, line.Indent + 1));
            return null;
        }

        Dialect = dialect;
        return Make(TokenType.Language, line, text: language);
    }

    // "Feature: name" etc.: the keyword must be followed directly by a colon.
    private Token? MatchTitle(TokenType type, GherkinLine line, IReadOnlyList<string> keywords)
    {
        foreach (var keyword in keywords)
        {
            var text = line.Trimmed;
            if (text.Length > keyword.Length && text[keyword.Length] == ':' && line.StartsWith(keyword))
            {
                return Make(type, line, keyword: keyword, text: text.Substring(keyword.Length + 1).Trim());
            }
        }

        return null;
    }

    // Step keywords carry their own trailing space ("Given "), or none in languages that
    // do not separate words ("假如").
    private Token? MatchStep(GherkinLine line)
    {
        foreach (var keyword in Dialect.StepKeywords)
        {
            if (line.StartsWith(keyword))
            {
                return Make(TokenType.StepLine, line, keyword: keyword, text: line.Trimmed.Substring(keyword.Length).Trim());
            }
        }

        return null;
    }

    // Opening: """ or ```, optionally followed by a media type; the doc string's lines lose
    // the opening delimiter's indentation. Closing: the same delimiter as the opening one.
    private Token? MatchDocStringSeparator(GherkinLine line)
    {
        if (_docStringDelimiter is { } open)
        {
            if (!line.StartsWith(open))
            {
                return null;
            }

            _docStringDelimiter = null;
            _docStringIndent = 0;
            return Make(TokenType.DocStringSeparator, line, keyword: open);
        }

        foreach (var delimiter in new[] { "\"\"\"", "```" })
        {
            if (line.StartsWith(delimiter))
            {
                _docStringDelimiter = delimiter;
                _docStringIndent = line.Indent;
                return Make(TokenType.DocStringSeparator, line, keyword: delimiter, text: line.Trimmed.Substring(delimiter.Length).Trim());
            }
        }

        return null;
    }

    // Any line at all: a description line (kept whole) or a doc string line (without the
    // delimiter's indentation, and with escaped delimiters unescaped).
    private Token MatchOther(GherkinLine line)
    {
        var text = line.Text!;
        if (_docStringDelimiter is null)
        {
            return Make(TokenType.Other, line, column: 1, text: text);
        }

        text = _docStringIndent > line.Indent ? line.Trimmed : text.Substring(_docStringIndent);
        text = text.Replace("\\\"\\\"\\\"", "\"\"\"").Replace("\\`\\`\\`", "```");
        return Make(TokenType.Other, line, column: 1, text: text);
    }

    // "@a @b:c  # comment": tags are separated by '@'; a '#' after whitespace starts a
    // comment. A tag may not contain whitespace, which is reported at its '@'.
    private Token? MatchTags(GherkinLine line)
    {
        var text = line.Trimmed;
        for (var i = 1; i < text.Length; i++)
        {
            if (text[i] == '#' && char.IsWhiteSpace(text[i - 1]))
            {
                text = text.Substring(0, i - 1);
                break;
            }
        }

        var tags = new List<LineItem>();
        var column = line.Indent + 1; // of the '@' before the current part
        var parts = text.Split('@');
        for (var p = 1; p < parts.Length; p++)
        {
            var name = parts[p].TrimEnd(InlineWhitespace);
            if (name.Length > 0)
            {
                if (name.IndexOfAny(InlineWhitespace) >= 0)
                {
                    _report(new GherkinError("A tag may not contain whitespace", line.Number, column));
                    return null;
                }

                tags.Add(new LineItem(column, "@" + name));
            }

            column += parts[p].Length + 1;
        }

        return Make(TokenType.TagLine, line, items: tags);
    }

    // "| a | b\|c |": cells between pipes, trimmed; \| is a pipe, \\ a backslash and \n a
    // line break. Text after the last pipe is not a cell. A cell's column is that of its
    // first non-blank character (of the character after the pipe when it is empty).
    private static IReadOnlyList<LineItem> SplitCells(GherkinLine line)
    {
        var cells = new List<LineItem>();
        var text = line.Trimmed;
        var cell = new StringBuilder();
        var cellStart = 0; // index of the cell's first character
        var first = true;  // before the first pipe
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '|')
            {
                if (!first)
                {
                    var raw = cell.ToString();
                    var value = raw.Trim(InlineWhitespace);
                    var lead = value.Length == 0 ? 0 : raw.Length - raw.TrimStart(InlineWhitespace).Length;
                    cells.Add(new LineItem(line.Indent + cellStart + lead + 1, value));
                }

                first = false;
                cell.Clear();
                cellStart = i + 1;
            }
            else if (c == '\\' && i + 1 < text.Length)
            {
                var next = text[++i];
                if (next == 'n')
                {
                    cell.Append('\n');
                }
                else
                {
                    if (next is not '|' and not '\\')
                    {
                        cell.Append('\\');
                    }

                    cell.Append(next);
                }
            }
            else
            {
                cell.Append(c);
            }
        }

        return cells;
    }
}
