using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

/// <summary>
/// Reads one spec file. The format is line-oriented, after arch/arm64/tools/sysreg: a
/// keyword starts each line, blocks end with End&lt;Keyword&gt;, <c>#</c> starts a comment,
/// and a quoted string at the end of a line cites where the line's fact comes from.
/// The parser never throws on bad input: every problem becomes a diagnostic at its column.
/// </summary>
internal sealed class SpecParser
{
    private readonly string _path;
    private readonly string _text;
    private readonly List<DiagnosticInfo> _diagnostics = [];
    private readonly List<LayoutDecl> _layouts = [];
    private readonly List<ConstantsDecl> _constants = [];
    private readonly List<ConstantsDecl> _formats = [];
    private readonly List<WalkerDecl> _walkers = [];
    private readonly List<OperationDecl> _operations = [];
    private VariantHeader? _variant;
    private bool _sawStatement;

    private SpecParser(string path, string text)
    {
        _path = path;
        _text = text;
    }

    public static SpecDocument Parse(string path, string text)
    {
        var parser = new SpecParser(path, text);
        parser.CheckEncoding();
        parser.ParseFile();
        parser.CheckDeclaresSomething();
        return new SpecDocument(
            path,
            parser._variant,
            parser._layouts.ToEquatableArray(),
            parser._constants.ToEquatableArray(),
            parser._walkers.ToEquatableArray(),
            parser._operations.ToEquatableArray(),
            parser._formats.ToEquatableArray(),
            parser._diagnostics.ToEquatableArray());
    }

    /// <summary>
    /// The compiler decodes AdditionalFiles as UTF-8 and turns bytes that are not UTF-8 into
    /// U+FFFD, silently; a title or citation would then carry the replacement character into
    /// the generated code. Said once per file, at the first one.
    /// </summary>
    private void CheckEncoding()
    {
        var at = _text.IndexOf('\uFFFD');
        if (at >= 0)
        {
            var span = Span(LineOf(at), at, 1);
            Report(Diagnostics.InvalidUtf8, span, SpecValidator.DisplayPath(_path), (span.Line + 1).ToString(CultureInfo.InvariantCulture), (span.Column + 1).ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>A file that declares nothing is most often a file whose content went elsewhere: a warning, not silence.</summary>
    private void CheckDeclaresSomething()
    {
        if (_layouts.Count + _constants.Count + _formats.Count + _walkers.Count + _operations.Count == 0 && _diagnostics.Count == 0)
        {
            Report(Diagnostics.EmptySpecFile, SourceSpan.At(_path, 0, 0, 0, 0), _variant is null ? SpecValidator.DisplayPath(_path) : $"{SpecValidator.DisplayPath(_path)} (Variant {_variant.Name})");
        }
    }

    private int LineOf(int offset)
    {
        var line = 0;
        for (var i = 0; i < offset; i++)
        {
            if (_text[i] == '\n')
            {
                line++;
            }
        }

        return line;
    }

    private void ParseFile()
    {
        var lines = SplitLines();
        var i = 0;
        while (i < lines.Count)
        {
            var line = lines[i++];
            if (line.Tokens.Count == 0)
            {
                continue;
            }

            var keyword = line.Tokens[0];
            if (keyword.Text != "Variant")
            {
                _sawStatement = true;
            }

            switch (keyword.Text)
            {
                case "Variant":
                    ParseVariant(line);
                    break;
                case "Layout":
                    ParseLayout(line, lines, ref i);
                    break;
                case "Constants":
                    ParseConstants(line, lines, ref i, "Constants", "Value", _constants);
                    break;
                case "Format":
                    ParseConstants(line, lines, ref i, "Format", "Mask", _formats);
                    break;
                case "Walker":
                    ParseWalker(line, lines, ref i);
                    break;
                case "Operation":
                    ParseOperation(line, lines, ref i);
                    break;
                case "EndLayout" or "EndConstants" or "EndWalker" or "EndEnum" or "EndOperation" or "EndFormat":
                    Report(Diagnostics.UnexpectedEnd, keyword, keyword.Text, keyword.Text.Substring(3) + " block");
                    break;
                default:
                    Report(
                        Diagnostics.UnknownKeyword,
                        keyword,
                        keyword.Text,
                        IsBlockMember(keyword.Text)
                            ? "outside a block: it belongs inside a Layout, Constants, Format, Walker or Operation block"
                            : "at the top level: expected Layout, Constants, Format, Walker, Operation or Variant");
                    break;
            }
        }
    }

    private static bool IsBlockMember(string keyword) => keyword is "Field" or "Enum" or "Reserved" or "Ignored" or "Value" or "Mask"
        or "PageShift" or "LevelBits" or "RootLevels" or "Present" or "Huge" or "Address" or "Iterator" or "Level";

    private void ParseVariant(Line line)
    {
        if (_sawStatement || _variant is not null)
        {
            Report(Diagnostics.MisplacedVariant, line.Tokens[0], "Variant must be the first statement of its file, and a file names one variant");
            return;
        }

        if (!ExpectName(line, 1, "a variant", out var name) || !ExpectTitle(line, 2, "Variant " + name, out var title))
        {
            return;
        }

        _variant = new VariantHeader(name, title, Span(line.Tokens[1]));
    }

    private void ParseLayout(Line header, List<Line> lines, ref int i)
    {
        var (hasName, name, title) = ReadHeader(header, "a layout", "Layout");
        var context = "Layout " + (hasName ? name : "?");
        var fields = new List<FieldDecl>();
        var errorsBefore = _diagnostics.Count;
        ReadBlock(header, lines, ref i, context, "EndLayout", (Line line, List<Line> all, ref int next) =>
        {
            var keyword = line.Tokens[0];
            var field = keyword.Text switch
            {
                "Field" => ParseField(line, FieldKind.Field, context),
                "Reserved" => ParseField(line, FieldKind.Reserved, context),
                "Ignored" => ParseField(line, FieldKind.Ignored, context),
                "Enum" => ParseEnum(line, all, ref next, context),
                _ => Unknown(keyword, $"in {context}: expected Field, Enum, Reserved, Ignored or EndLayout"),
            };
            if (field is not null)
            {
                fields.Add(field);
            }
        });

        if (hasName)
        {
            _layouts.Add(new LayoutDecl(name, title, Span(header.Tokens[1]), fields.ToEquatableArray(), _diagnostics.Count > errorsBefore));
        }
    }

    /// <summary><c>Field hi[:lo] Name "source"</c>, or <c>Reserved|Ignored hi[:lo] "source"</c>.</summary>
    private FieldDecl? ParseField(Line line, FieldKind kind, string context)
    {
        var named = kind is FieldKind.Field or FieldKind.Enum;
        var usage = named
            ? $"{line.Tokens[0].Text} expects bits, a name and a source, e.g. {line.Tokens[0].Text} 51:12 Pfn \"spte.h SPTE_BASE_ADDR_MASK\""
            : $"{line.Tokens[0].Text} expects bits and a source, e.g. {line.Tokens[0].Text} 62:59 \"SDM Vol.3A Table 4-20\"";
        if (line.Tokens.Count < 2 || line.Tokens[1].IsString)
        {
            Report(Diagnostics.Syntax, line.Tokens[0], $"{usage} (in {context})");
            return null;
        }

        if (!ParseBits(line.Tokens[1], context, out var hi, out var lo))
        {
            return null;
        }

        string? name = null;
        var next = 2;
        if (named)
        {
            if (!ExpectName(line, 2, $"a field of {context}", out var fieldName))
            {
                return null;
            }

            name = fieldName;
            next = 3;
        }

        var what = named ? $"{context.Substring(context.IndexOf(' ') + 1)}.{name}" : $"{kind} {line.Tokens[1].Text} in {context}";
        var source = ExpectSource(line, next, what);
        return new FieldDecl(kind, name, hi, lo, source, Span(line.Tokens[1]), EquatableArray<EnumMemberDecl>.Empty);
    }

    private FieldDecl? ParseEnum(Line header, List<Line> lines, ref int i, string context)
    {
        var field = ParseField(header, FieldKind.Enum, context);
        var members = new List<EnumMemberDecl>();
        var closed = false;
        while (i < lines.Count)
        {
            var line = lines[i++];
            if (line.Tokens.Count == 0)
            {
                continue;
            }

            var first = line.Tokens[0];
            if (first.Text == "EndEnum")
            {
                ExpectNothingAfter(line, 1);
                closed = true;
                break;
            }

            if (first.Text is "EndLayout" or "Field" or "Enum" or "Reserved" or "Ignored" or "Layout" or "Constants" or "Format" or "Walker" or "Operation")
            {
                i--;
                break;
            }

            // An enum member: <value> <Name>
            if (!TryParseNumber(first, out var value, report: true))
            {
                continue;
            }

            if (ExpectName(line, 1, "an enum member", out var memberName))
            {
                ExpectNothingAfter(line, 2);
                members.Add(new EnumMemberDecl(memberName, value, Span(line.Tokens[1])));
            }
        }

        if (!closed)
        {
            Report(Diagnostics.UnterminatedBlock, header.Tokens[0], $"Enum {field?.Name ?? "?"} in {context}", "EndEnum");
        }

        return field is null ? null : field with { Members = members.ToEquatableArray() };
    }

    /// <summary>
    /// A block of named values: <c>Constants Name "title"</c> with <c>Value NAME = expr "source"</c>
    /// lines, or <c>Format Name "title"</c> with <c>Mask NAME = expr "source"</c> lines (an SPTE
    /// format's shadow_*_mask values), each closed by its End keyword.
    /// </summary>
    private void ParseConstants(Line header, List<Line> lines, ref int i, string kind, string member, List<ConstantsDecl> into)
    {
        var (hasName, name, title) = ReadHeader(header, $"a {kind} block", kind);
        var context = kind + " " + (hasName ? name : "?");
        var values = new List<ValueDecl>();
        ReadBlock(header, lines, ref i, context, "End" + kind, (Line line, List<Line> _, ref int _) =>
        {
            if (line.Tokens[0].Text != member)
            {
                Unknown(line.Tokens[0], $"in {context}: expected {member} or End{kind}");
            }
            else if (ParseValue(line, context, member) is { } value)
            {
                values.Add(value);
            }
        });

        if (hasName)
        {
            into.Add(new ConstantsDecl(name, title, Span(header.Tokens[1]), values.ToEquatableArray()));
        }
    }

    /// <summary><c>Value NAME = expr "source"</c> (or <c>Mask NAME = ...</c> in a Format block).</summary>
    private ValueDecl? ParseValue(Line line, string context, string member)
    {
        if (!ExpectName(line, 1, $"a value in {context}", out var name))
        {
            return null;
        }

        if (line.Tokens.Count < 3 || line.Tokens[2].Text != "=")
        {
            Report(Diagnostics.Syntax, line.Tokens.Count > 2 ? line.Tokens[2] : line.Tokens[1], $"{member} {name} expects '=' and an expression, e.g. {member} {name} = bit(63) | 0x5a0 \"spte.h\"");
            return null;
        }

        var last = line.Tokens.Count - 1;
        var source = line.Tokens[last].IsString ? line.Tokens[last].Text : null;
        var exprEnd = source is null ? line.Tokens.Count : last;
        if (exprEnd <= 3)
        {
            Report(Diagnostics.Syntax, line.Tokens[2], $"{member} {name} has no expression after '='");
            return null;
        }

        if (source is null)
        {
            Report(Diagnostics.MissingSource, line.Tokens[1], member + " " + name);
        }

        var start = line.Tokens[3].Start;
        var end = line.Tokens[exprEnd - 1].Start + line.Tokens[exprEnd - 1].Length;
        var text = _text.Substring(start, end - start);
        var expr = new ExprParser(this, line, text, start).ParseWhole();
        return expr is null ? null : new ValueDecl(name, expr, text, source, Span(line.Tokens[1]));
    }

    private void ParseWalker(Line header, List<Line> lines, ref int i)
    {
        var (hasName, name, title) = ReadHeader(header, "a walker", "Walker");
        var context = "Walker " + (hasName ? name : "?");
        var properties = new List<WalkerProperty>();
        var levels = new List<WalkerLevel>();
        ReadBlock(header, lines, ref i, context, "EndWalker", (Line line, List<Line> _, ref int _) =>
        {
            var keyword = line.Tokens[0];
            switch (keyword.Text)
            {
                case "PageShift" or "LevelBits" or "RootLevels" or "Present" or "Huge" or "Address" or "Iterator":
                    var values = ValuesBeforeSource(line);
                    if (values.Count == 0)
                    {
                        Report(Diagnostics.Syntax, keyword, $"{keyword.Text} in {context} needs a value");
                        return;
                    }

                    var source = ExpectSource(line, values.Count + 1, $"{keyword.Text} of {context}");
                    CheckRepeated(values, $"{keyword.Text} of {context}");
                    properties.Add(new WalkerProperty(keyword.Text, values.Select(v => v.Text).ToEquatableArray(), source, Span(keyword)));
                    break;
                case "Level":
                    if (ParseLevel(line, context) is { } level)
                    {
                        levels.Add(level);
                    }

                    break;
                default:
                    Unknown(keyword, $"in {context}: expected PageShift, LevelBits, RootLevels, Present, Huge, Address, Iterator, Level or EndWalker");
                    break;
            }
        });

        if (hasName)
        {
            _walkers.Add(new WalkerDecl(name, title, Span(header.Tokens[1]), properties.ToEquatableArray(), levels.ToEquatableArray()));
        }
    }

    /// <summary><c>Operation Name "title"</c>, then <c>Key Value... "source"</c> lines, then <c>EndOperation</c>.</summary>
    private void ParseOperation(Line header, List<Line> lines, ref int i)
    {
        var (hasName, name, title) = ReadHeader(header, "an operation", "Operation");
        var context = "Operation " + (hasName ? name : "?");
        var entries = new List<PolicyEntry>();
        var notes = new List<(string Key, Token Value)>();
        ReadBlock(header, lines, ref i, context, "EndOperation", (Line line, List<Line> _, ref int _) =>
        {
            var keyword = line.Tokens[0];
            if (keyword.Text is "Equivalent" or "Unread")
            {
                notes.AddRange(ParseCoverageNote(line, context));
                return;
            }

            if (!PolicyKeys.Values.ContainsKey(keyword.Text))
            {
                Unknown(keyword, $"in {context}: expected {string.Join(", ", PolicyKeys.Values.Keys)}, Equivalent, Unread or EndOperation");
                return;
            }

            var values = ValuesBeforeSource(line);
            if (values.Count == 0)
            {
                Report(Diagnostics.Syntax, keyword, $"{keyword.Text} in {context} needs a value: one of {string.Join(", ", PolicyKeys.Values[keyword.Text])}");
                return;
            }

            var source = ExpectSource(line, values.Count + 1, $"{keyword.Text} of {context}");
            CheckRepeated(values, $"{keyword.Text} of {context}");
            var last = values[values.Count - 1];
            var valueSpan = Span(keyword.Line, values[0].Start, last.Start + last.Length - values[0].Start);
            entries.Add(new PolicyEntry(keyword.Text, values.Select(v => v.Text).ToEquatableArray(), source, Span(keyword), valueSpan));
        });

        // An Equivalent that names the value its key has in this block excuses no mutant: the line says two things at once.
        foreach (var (key, value) in notes.Where(n => entries.Any(e => e.Key == n.Key && e.Values.Count == 1 && e.Values[0] == n.Value.Text)))
        {
            Report(Diagnostics.ContradictoryPolicy, value, hasName ? name : "?", $"Equivalent {key} {value.Text} names the value {key} already has here: an Equivalent lists the other values, the ones a mutant of the {key} line would take");
        }

        if (hasName)
        {
            _operations.Add(new OperationDecl(name, title, Span(header.Tokens[1]), entries.ToEquatableArray()));
        }
    }

    /// <summary>
    /// <c>Equivalent Key [Value...] "why"</c> and <c>Unread Key "why"</c> (<c>Unread Changes
    /// [Value...] "why"</c>): what the spec-coverage report (<c>speckit mutate</c>,
    /// docs/spec-coverage.md) may say of a mutant of this block's Key line instead of "survived":
    /// changing the key (to the values listed, or to any) gives a model that cannot behave
    /// differently, for the reason stated (Invocation when Exists No), or the runtime reads the
    /// key (for Changes, the values listed) nowhere for this operation today. They change no
    /// model, so they are checked here (the key and values must be ones the block could give,
    /// with a reason) and emit nothing.
    /// </summary>
    private IEnumerable<(string Key, Token Value)> ParseCoverageNote(Line line, string context)
    {
        var keyword = line.Tokens[0];
        var words = ValuesBeforeSource(line);
        var what = $"{keyword.Text} in {context}";
        if (words.Count == 0 || !PolicyKeys.Values.TryGetValue(words[0].Text, out var allowed))
        {
            Report(Diagnostics.Syntax, words.Count == 0 ? keyword : words[0], $"{what} names the policy key it is about first: one of {string.Join(", ", PolicyKeys.Values.Keys)}");
            return [];
        }

        var key = words[0].Text;
        var values = words.Skip(1).ToList();
        // A Changes line is a set the runtime may read in part (RewriteLeaves reads Zap and the
        // bit clears, not Split); every other key has one value, read or not as a whole.
        if (keyword.Text == "Unread" && values.Count > 0 && key != "Changes")
        {
            Report(Diagnostics.Syntax, values[0], $"{what}: Unread {key} is about the key, whatever its value, so it takes no values (only Unread Changes lists the values the runtime does not read)");
        }

        foreach (var value in values.Where(v => Array.IndexOf(allowed, v.Text) < 0))
        {
            Report(Diagnostics.InvalidPolicyValue, value, what, value.Text, key, "one of " + string.Join(", ", allowed));
        }

        CheckRepeated(values, $"{what} {key}");
        ExpectSource(line, words.Count + 1, $"{what} {key}");
        return values.Select(v => (key, v));
    }

    private static readonly HashSet<string> TopLevelKeywords = ["Layout", "Constants", "Format", "Walker", "Operation", "Variant"];

    private delegate void BlockLine(Line line, List<Line> lines, ref int next);

    /// <summary>
    /// Reads a block's lines up to <paramref name="end"/>, handing each to <paramref name="onLine"/>.
    /// A line that opens a new top-level block ends this one too, reported as unterminated, so
    /// the next block is still parsed rather than lost.
    /// </summary>
    private void ReadBlock(Line header, List<Line> lines, ref int i, string context, string end, BlockLine onLine)
    {
        while (i < lines.Count)
        {
            var line = lines[i++];
            if (line.Tokens.Count == 0)
            {
                continue;
            }

            if (line.Tokens[0].Text == end)
            {
                ExpectNothingAfter(line, 1);
                return;
            }

            if (TopLevelKeywords.Contains(line.Tokens[0].Text))
            {
                i--;
                break;
            }

            onLine(line, lines, ref i);
        }

        Report(Diagnostics.UnterminatedBlock, header.Tokens[0], context, end);
    }

    /// <summary><c>Keyword Name "title"</c>: the name and title every block opens with.</summary>
    private (bool HasName, string Name, string Title) ReadHeader(Line header, string what, string keyword)
    {
        var title = "";
        var hasName = ExpectName(header, 1, what, out var name);
        if (hasName)
        {
            ExpectTitle(header, 2, keyword + " " + name, out title);
        }

        return (hasName, name, title);
    }

    /// <summary>The words of a <c>Key Value... "source"</c> line between the key and the citation.</summary>
    private static List<Token> ValuesBeforeSource(Line line) => line.Tokens.Skip(1).TakeWhile(t => !t.IsString).ToList();

    /// <summary><c>Changes Zap Zap</c> or <c>RootLevels 4 4</c>: a value listed twice says nothing more, so it is a typo for another.</summary>
    private void CheckRepeated(List<Token> values, string what)
    {
        for (var i = 1; i < values.Count; i++)
        {
            var first = values.Take(i).FirstOrDefault(v => v.Text == values[i].Text);
            if (first is not null)
            {
                Report(Diagnostics.Duplicate, values[i], $"{values[i].Text} in {what}", Span(first).Display);
            }
        }
    }

    private FieldDecl? Unknown(Token keyword, string context)
    {
        Report(Diagnostics.UnknownKeyword, keyword, keyword.Text, context);
        return null;
    }

    /// <summary><c>Level n Name Leaf|Table "source"</c>.</summary>
    private WalkerLevel? ParseLevel(Line line, string context)
    {
        if (line.Tokens.Count < 4 || line.Tokens[1].IsString || line.Tokens[3].IsString)
        {
            Report(Diagnostics.Syntax, line.Tokens[0], $"Level in {context} expects a number, a name, Leaf or Table, and a source, e.g. Level 2 Pde Leaf \"PG_LEVEL_2M\"");
            return null;
        }

        if (!TryParseNumber(line.Tokens[1], out var level, report: true) || !ExpectName(line, 2, $"a level of {context}", out var name))
        {
            return null;
        }

        var kind = line.Tokens[3];
        if (kind.Text is not ("Leaf" or "Table"))
        {
            Report(Diagnostics.UnknownKeyword, kind, kind.Text, $"in Level {name} of {context}: expected Leaf or Table");
            return null;
        }

        var source = ExpectSource(line, 4, $"Level {level} of {context}");
        return new WalkerLevel((int)Math.Min(level, int.MaxValue), name, kind.Text == "Leaf", source, Span(line.Tokens[1]));
    }

    private bool ParseBits(Token token, string context, out int hi, out int lo)
    {
        hi = lo = 0;
        var colon = token.Text.IndexOf(':');
        var hiText = colon < 0 ? token.Text : token.Text.Substring(0, colon);
        var loText = colon < 0 ? hiText : token.Text.Substring(colon + 1);
        var hiStatus = BitNumber(hiText, out hi);
        var loStatus = BitNumber(loText, out lo);
        if (hiStatus == NumberStatus.Malformed || loStatus == NumberStatus.Malformed)
        {
            Report(Diagnostics.MalformedNumber, token, token.Text, "bits are written as a decimal bit number, or high:low such as 51:12");
            return false;
        }

        if (hiStatus == NumberStatus.TooLarge || loStatus == NumberStatus.TooLarge)
        {
            Report(Diagnostics.BitsOutOfRange, token, $"{token.Text} in {context}", "a 64-bit entry has bits 0 to 63");
            return false;
        }

        return true;
    }

    /// <summary>A decimal bit number; one too large for an int is beyond bit 63 all the same.</summary>
    private static NumberStatus BitNumber(string text, out int bit)
    {
        bit = 0;
        if (text.Length == 0 || text.Any(c => c is < '0' or > '9'))
        {
            return NumberStatus.Malformed;
        }

        var status = ParseNumber(text, out var value);
        if (status != NumberStatus.Ok || value > int.MaxValue)
        {
            return NumberStatus.TooLarge;
        }

        bit = (int)value;
        return NumberStatus.Ok;
    }

    internal bool TryParseNumber(Token token, out ulong value, bool report)
    {
        var status = ParseNumber(token.Text, out value);
        if (status != NumberStatus.Ok && report)
        {
            ReportNumber(Span(token), token.Text, status);
        }

        return status == NumberStatus.Ok;
    }

    /// <summary>SPEC002 for a number that is not one, SPEC020 for one that does not fit in 64 bits.</summary>
    internal void ReportNumber(SourceSpan span, string text, NumberStatus status)
    {
        if (status == NumberStatus.TooLarge)
        {
            Report(Diagnostics.NumberTooLarge, span, $"'{text}'", ": the largest number is 0xffff_ffff_ffff_ffff (18446744073709551615)");
        }
        else
        {
            Report(Diagnostics.MalformedNumber, span, text, "write a decimal number, 0x followed by hex digits, or 0b followed by binary digits");
        }
    }

    internal static bool TryParseNumber(string text, out ulong value) => ParseNumber(text, out value) == NumberStatus.Ok;

    internal enum NumberStatus
    {
        Ok,
        Malformed,
        TooLarge,
    }

    /// <summary>A decimal, 0x hex or 0b binary number, '_' allowed between digits; too large is told apart from malformed.</summary>
    internal static NumberStatus ParseNumber(string text, out ulong value)
    {
        value = 0;
        var clean = text.Replace("_", "");
        var (digits, radix) = clean.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? (clean.Substring(2), 16)
            : clean.StartsWith("0b", StringComparison.OrdinalIgnoreCase) ? (clean.Substring(2), 2)
            : (clean, 10);
        if (digits.Length == 0)
        {
            return NumberStatus.Malformed;
        }

        foreach (var c in digits)
        {
            var digit = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : 99;
            if (digit >= radix)
            {
                return NumberStatus.Malformed;
            }

            // value * radix + digit > ulong.MaxValue, without overflowing.
            if (value > (ulong.MaxValue - (ulong)digit) / (ulong)radix)
            {
                return NumberStatus.TooLarge;
            }

            value = (value * (ulong)radix) + (ulong)digit;
        }

        return NumberStatus.Ok;
    }

    private bool ExpectName(Line line, int index, string what, out string name)
    {
        name = "";
        if (index >= line.Tokens.Count || line.Tokens[index].IsString)
        {
            var at = index < line.Tokens.Count ? line.Tokens[index] : line.Tokens[line.Tokens.Count - 1];
            Report(Diagnostics.Syntax, at, $"{line.Tokens[0].Text} needs a name for {what}");
            return false;
        }

        name = line.Tokens[index].Text;
        return CheckName(Span(line.Tokens[index]), name, what);
    }

    private bool ExpectTitle(Line line, int index, string what, out string title)
    {
        title = "";
        if (index < line.Tokens.Count && line.Tokens[index].IsString)
        {
            title = line.Tokens[index].Text;
            ExpectNothingAfter(line, index + 1);
            return true;
        }

        Report(Diagnostics.Syntax, index < line.Tokens.Count ? line.Tokens[index] : line.Tokens[line.Tokens.Count - 1], $"{what} needs a quoted title that says what it describes");
        return false;
    }

    private string? ExpectSource(Line line, int index, string what)
    {
        if (index < line.Tokens.Count && line.Tokens[index].IsString)
        {
            ExpectNothingAfter(line, index + 1);
            return line.Tokens[index].Text.Length == 0 ? ReportMissing() : line.Tokens[index].Text;
        }

        if (index < line.Tokens.Count)
        {
            Report(Diagnostics.Syntax, line.Tokens[index], $"Unexpected '{line.Tokens[index].Text}' in {what}: expected a quoted source citation");
            return null;
        }

        return ReportMissing();

        string? ReportMissing()
        {
            Report(Diagnostics.MissingSource, line.Tokens[Math.Min(index, line.Tokens.Count) - 1], what);
            return null;
        }
    }

    private void ExpectNothingAfter(Line line, int index)
    {
        if (index < line.Tokens.Count)
        {
            Report(Diagnostics.Syntax, line.Tokens[index], $"Unexpected '{line.Tokens[index].Text}' after {line.Tokens[0].Text}");
        }
    }

    /// <summary>C# keywords: a name the emitter could not use as it is.</summary>
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
        "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock",
        "long", "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected",
        "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string",
        "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort",
        "using", "virtual", "void", "volatile", "while",
    };

    /// <summary>
    /// Reports a name that is not an identifier (SPEC012) or that would be one but for a
    /// character outside ASCII (SPEC023): 'Рfn' with a Cyrillic Р looks like Pfn, and both
    /// could otherwise be declared and referred to as different things.
    /// </summary>
    internal bool CheckName(SourceSpan span, string name, string what)
    {
        if (IsIdentifier(name))
        {
            return true;
        }

        var foreign = name.FirstOrDefault(c => c > 127);
        if (foreign != default && IsIdentifier(new string(name.Select(c => c > 127 ? 'x' : c).ToArray())))
        {
            Report(Diagnostics.NonAsciiName, span, Visible(name), what, DescribeChar(foreign));
        }
        else
        {
            Report(Diagnostics.InvalidName, span, Visible(name), what, "use ASCII letters, digits and '_', starting with a letter, and not a C# keyword");
        }

        return false;
    }

    /// <summary>"U+0420 'Р'", or the code alone for a character that does not show (a zero-width space).</summary>
    internal static string DescribeChar(char c)
    {
        var code = "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture);
        return char.IsControl(c) || char.IsWhiteSpace(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.NonSpacingMark or UnicodeCategory.Surrogate
            ? code
            : $"{code} '{c}'";
    }

    /// <summary>A name with its invisible characters spelled out, so a message shows why two equal-looking names differ.</summary>
    private static string Visible(string name) =>
        string.Concat(name.Select(c => c > 127 && (char.IsControl(c) || char.IsWhiteSpace(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format) ? $"<{DescribeChar(c)}>" : c.ToString()));

    /// <summary>An ASCII C# identifier that is not a keyword: kernel names are ASCII, and so is the generated code.</summary>
    internal static bool IsIdentifier(string name)
    {
        if (name.Length == 0 || !(IsAsciiLetter(name[0]) || name[0] == '_') || Keywords.Contains(name))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(IsAsciiLetter(c) || c is >= '0' and <= '9' || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAsciiLetter(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z';

    internal SourceSpan Span(Token token) => Span(token.Line, token.Start, token.Length);

    internal SourceSpan Span(int line, int start, int length) =>
        SourceSpan.At(_path, start, length, line, start - LineStart(start));

    private int LineStart(int offset)
    {
        var i = offset;
        while (i > 0 && _text[i - 1] != '\n')
        {
            i--;
        }

        return i;
    }

    internal void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, Token token, params string[] args) =>
        Report(descriptor, Span(token), args);

    /// <summary>After a file's <c>Variant</c> line, its errors name the variant: several files may make up one.</summary>
    internal void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, SourceSpan span, params string[] args) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, span, args) with
        {
            Context = _variant is { } variant && !args.Any(a => a.Contains(variant.Name)) ? $"Variant {variant.Name}" : null,
        });

    /// <summary>Splits the file into lines of tokens: words, and quoted strings (quotes removed).</summary>
    private List<Line> SplitLines()
    {
        var lines = new List<Line>();
        var lineNumber = 0;
        var pos = 0;
        while (pos <= _text.Length)
        {
            var end = _text.IndexOf('\n', pos);
            if (end < 0)
            {
                end = _text.Length;
            }

            var tokens = new List<Token>();
            var i = pos;
            var lineEnd = end > pos && _text[end - 1] == '\r' ? end - 1 : end;
            while (i < lineEnd)
            {
                var c = _text[i];
                if (IsSpace(c))
                {
                    i++;
                }
                else if (c == '#')
                {
                    break;
                }
                else if (c == '"')
                {
                    var close = _text.IndexOf('"', i + 1, lineEnd - i - 1);
                    if (close < 0)
                    {
                        _diagnostics.Add(DiagnosticInfo.Create(Diagnostics.Syntax, Span(lineNumber, i, lineEnd - i), "Unterminated string: a quoted citation must close on the same line"));
                        i = lineEnd;
                        break;
                    }

                    tokens.Add(new Token(_text.Substring(i + 1, close - i - 1), i, close - i + 1, lineNumber, IsString: true));
                    i = close + 1;
                }
                else
                {
                    var start = i;
                    while (i < lineEnd && !IsSpace(_text[i]) && _text[i] is not ('"' or '#'))
                    {
                        i++;
                    }

                    tokens.Add(new Token(_text.Substring(start, i - start), start, i - start, lineNumber, IsString: false));
                }
            }

            lines.Add(new Line(tokens));
            lineNumber++;
            pos = end + 1;
        }

        return lines;
    }

    /// <summary>Tabs, spaces and the Unicode spaces an editor or a web page may paste (U+00A0, U+2009, ...).</summary>
    internal static bool IsSpace(char c) => c is ' ' or '\t' || (c != '\n' && c != '\r' && char.IsWhiteSpace(c));

    internal sealed record Token(string Text, int Start, int Length, int Line, bool IsString);

    internal sealed record Line(List<Token> Tokens);
}
