using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace SpecKit.Generators.Features.Binding;

/// <summary>
/// The compiled form of a step pattern: an anchored .NET regex with exactly one capturing
/// group per parameter, in order, so capture i+1 is the argument of ParameterTypeNames[i].
/// </summary>
internal sealed record CompiledStepPattern(string Regex, EquatableArray<string> ParameterTypeNames);

/// <summary>
/// Cucumber Expressions (https://github.com/cucumber/cucumber-expressions) compiled to
/// regexes at build time. Like everything in the generator it reports errors as values.
/// </summary>
/// <remarks>
/// The syntax: <c>{type}</c> is a parameter; <c>(s)</c> is optional text; <c>a/b</c> is an
/// alternation between the alternatives of one whitespace-delimited word (a parameter also
/// ends a word); <c>\</c> escapes <c>( ) { } / \</c> and whitespace. As in the reference
/// implementation, a lone <c>)</c> or <c>}</c> is text, optional text holds only text, and
/// an alternative may not be empty or only optional text.
/// </remarks>
internal static class CucumberExpression
{
    /// <summary>Compiles an expression against the known parameter types; never throws.</summary>
    public static bool TryCompile(
        string expression,
        IReadOnlyDictionary<string, ParameterType> types,
        out CompiledStepPattern? pattern,
        out string? error)
    {
        // An invalid expression is reported by the checks here, which name the column and say
        // what to write instead (the official parser's message is a multi-line caret picture).
        var checks = new Compiler(expression, types);
        if (checks.Compile() is null)
        {
            pattern = null;
            error = checks.Error;
            return false;
        }

        // A valid one is compiled by the official Cucumber Expressions parser
        // (Cucumber.CucumberExpressions), with SpecKit's types (hex integers, custom types)
        // given through a registry of our own, each regex with its groups made non-capturing so
        // that a parameter is exactly one capture. Converting the arguments stays ours: the .NET
        // package compiles expressions and leaves converting to the caller.
        pattern = null;
        error = null;
        try
        {
            var compiled = new CucumberExpressions.CucumberExpression(expression, new Registry(types));
            var regex = compiled.Regex.ToString();
            var names = compiled.ParameterTypes.Select(t => t.Name).ToEquatableArray();
            // Built once: the binder matches steps with this same object.
            if (StepRegex.Get(regex).GetGroupNumbers().Length - 1 != names.Count)
            {
                error = "its parameters do not give one capture each";
                return false;
            }

            pattern = new CompiledStepPattern(regex, names);
            return true;
        }
        catch (Exception e) when (e is CucumberExpressions.CucumberExpressionException or ArgumentException)
        {
            error = string.Join(" ", e.Message.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
            return false;
        }
    }

    private sealed class Registry(IReadOnlyDictionary<string, ParameterType> types) : CucumberExpressions.IParameterTypeRegistry
    {
        public CucumberExpressions.IParameterType? LookupByTypeName(string name) =>
            types.TryGetValue(name, out var type) ? new Official(type) : null;

        public IEnumerable<CucumberExpressions.IParameterType> GetParameterTypes() => types.Values.Select(t => new Official(t));
    }

    private sealed class Official(ParameterType type) : CucumberExpressions.IParameterType
    {
        public string[] RegexStrings { get; } = type.Regexes.Select(NonCapturing).ToArray();

        public string Name => type.Name;

        public Type ParameterType => typeof(string);

        public int Weight => 0;

        public bool UseForSnippets => true;
    }

    /// <summary>
    /// An explicit regular expression: every capturing group is a parameter of the pseudo
    /// type "regex". It is anchored unless it already is at both ends, and then wrapped in a
    /// group so that a top-level "a|b" does not become "^a|b$".
    /// </summary>
    public static bool TryCompileRegex(string regex, out CompiledStepPattern? pattern, out string? error)
    {
        pattern = null;
        error = null;
        int groups;
        try
        {
            // The user's own text is parsed first, so the message is about what they wrote.
            // Anchored at both ends, it is also the regex the binder matches with.
            groups = StepRegex.Get(regex).GetGroupNumbers().Length - 1;
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return false;
        }

        var starts = regex.StartsWith("^", StringComparison.Ordinal);
        var ends = EndsWithAnchor(regex);
        var anchored = starts && ends
            ? regex
            : "^(?:" + regex.Substring(starts ? 1 : 0, regex.Length - (starts ? 1 : 0) - (ends ? 1 : 0)) + ")$";
        pattern = new CompiledStepPattern(anchored, Enumerable.Repeat("regex", groups).ToEquatableArray());
        return true;
    }

    /// <summary>
    /// Suggests an expression for an undefined step, Reqnroll-style: quoted strings become
    /// {string}, integers (decimal or 0x hex) {int} or {long} by size, and the rest is text,
    /// escaped. Also returns the matching C# parameter list ("int p0, string p1").
    /// </summary>
    public static (string Expression, string Parameters) SuggestFor(string stepText)
    {
        var expression = new StringBuilder();
        var parameters = new List<string>();
        var at = 0;
        foreach (Match match in Suggestable.Matches(stepText))
        {
            expression.Append(EscapeText(stepText.Substring(at, match.Index - at)));
            at = match.Index + match.Length;

            var (type, clrType) = match.Value[0] is '"' or '\''
                ? ("string", "string")
                : ArgumentConverter.TryParseInteger(match.Value, out var value, out _) ? IntegerTypes(value) : ("word", "string");
            expression.Append('{').Append(type).Append('}');
            parameters.Add($"{clrType} p{parameters.Count}");
        }

        expression.Append(EscapeText(stepText.Substring(at)));
        return (expression.ToString(), string.Join(", ", parameters));
    }

    // A single quote right after a letter is an apostrophe ("the VM's"), not a string.
    // Numbers must stand alone: not "vcpu0", nor either half of "1.5".
    private static readonly Regex Suggestable = new(
        @"""(?:[^""\\]|\\.)*""|(?<!\w)'(?:[^'\\]|\\.)*'|(?<![\w.])(?:0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|-?\d+)(?!\w|\.\d)",
        RegexOptions.CultureInvariant);

    // Hex too big for a long is usually a full 64-bit value (a mask, an address): ulong.
    // Anything bigger has no integer type, so it stays a string.
    private static (string Type, string ClrType) IntegerTypes(BigInteger value) =>
        value >= int.MinValue && value <= int.MaxValue ? ("int", "int")
        : value >= long.MinValue && value <= long.MaxValue ? ("long", "long")
        : value >= 0 && value <= ulong.MaxValue ? ("long", "ulong")
        : ("word", "string");

    /// <summary>Escapes the characters that mean something in an expression.</summary>
    private static string EscapeText(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            escaped.Append(c is '(' or ')' or '{' or '}' or '/' or '\\' ? "\\" : "").Append(c);
        }

        return escaped.ToString();
    }

    /// <summary>A '$' at the end that is not escaped (preceded by an even number of '\').</summary>
    private static bool EndsWithAnchor(string regex)
    {
        if (!regex.EndsWith("$", StringComparison.Ordinal))
        {
            return false;
        }

        var backslashes = 0;
        for (var i = regex.Length - 2; i >= 0 && regex[i] == '\\'; i--)
        {
            backslashes++;
        }

        return backslashes % 2 == 0;
    }

    /// <summary>
    /// Rewrites a parameter type's regex so its groups do not capture: "(", "(?&lt;name&gt;"
    /// and "(?'name'" become "(?:". Escapes and character classes are skipped over, since a
    /// parenthesis there is a literal.
    /// </summary>
    internal static string NonCapturing(string regex)
    {
        var result = new StringBuilder(regex.Length + 8);
        var inClass = false;
        for (var i = 0; i < regex.Length; i++)
        {
            var c = regex[i];
            if (c == '\\' && i + 1 < regex.Length)
            {
                result.Append(c).Append(regex[++i]);
            }
            else if (inClass)
            {
                inClass = c != ']';
                result.Append(c);
            }
            else if (c == '[')
            {
                inClass = true;
                result.Append(c);

                // A ']' first in a class, after an optional '^', is a literal, not its end.
                if (i + 1 < regex.Length && regex[i + 1] == '^')
                {
                    result.Append(regex[++i]);
                }

                if (i + 1 < regex.Length && regex[i + 1] == ']')
                {
                    result.Append(regex[++i]);
                }
            }
            else if (c == '(' && CapturingOpenLength(regex, i) is var length and > 0)
            {
                result.Append("(?:");
                i += length - 1;
            }
            else
            {
                result.Append(c);
            }
        }

        return result.ToString();
    }

    /// <summary>How long the opening of a capturing group at <paramref name="i"/> is, or 0 if it is not one.</summary>
    private static int CapturingOpenLength(string regex, int i)
    {
        if (i + 1 >= regex.Length || regex[i + 1] != '?')
        {
            return 1;
        }

        if (i + 2 >= regex.Length || regex[i + 2] is not ('<' or '\''))
        {
            return 0; // (?: (?= (?! (?> (?i) ...
        }

        if (regex[i + 2] == '<' && i + 3 < regex.Length && regex[i + 3] is '=' or '!')
        {
            return 0; // look-behind
        }

        var close = regex.IndexOf(regex[i + 2] == '<' ? '>' : '\'', i + 3);
        return close < 0 ? 0 : close - i + 1;
    }

    private static string RegexEscape(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            escaped.Append(c is '\\' or '^' or '$' or '.' or '|' or '?' or '*' or '+' or '(' or ')' or '[' or ']' or '{' or '}' ? "\\" : "").Append(c);
        }

        return escaped.ToString();
    }

    private enum PieceKind
    {
        Text,
        Optional,
        Slash,
    }

    /// <summary>A part of the current word; Column is 1-based, for errors.</summary>
    private readonly struct Piece(PieceKind kind, string text, int column)
    {
        public PieceKind Kind { get; } = kind;

        public string Text { get; } = text;

        public int Column { get; } = column;
    }

    /// <summary>
    /// One left-to-right pass. Text and optional text go to the regex as soon as they are
    /// read, except inside a word, which is held back until it ends: only then is it known
    /// whether it is an alternation.
    /// </summary>
    private sealed class Compiler(string expression, IReadOnlyDictionary<string, ParameterType> types)
    {
        private readonly StringBuilder _regex = new("^");
        private readonly List<string> _names = [];
        private readonly List<Piece> _word = [];
        private int _pos;

        public string? Error { get; private set; }

        public CompiledStepPattern? Compile()
        {
            while (_pos < expression.Length && Error is null)
            {
                var c = expression[_pos];
                if (char.IsWhiteSpace(c))
                {
                    FlushWord();
                    _regex.Append(c);
                    _pos++;
                }
                else if (c == '{')
                {
                    FlushWord();
                    Parameter();
                }
                else if (c == '(')
                {
                    Optional();
                }
                else if (c == '/')
                {
                    _word.Add(new Piece(PieceKind.Slash, "/", _pos + 1));
                    _pos++;
                }
                else
                {
                    var column = _pos + 1;
                    if (ReadLiteral() is { } literal)
                    {
                        _word.Add(new Piece(PieceKind.Text, literal.ToString(), column));
                    }
                }
            }

            FlushWord();
            return Error is null ? new CompiledStepPattern(_regex.Append('$').ToString(), _names.ToEquatableArray()) : null;
        }

        /// <summary>Reads one character of text, unescaping it; null (and an error) for a bad escape.</summary>
        private char? ReadLiteral()
        {
            var c = expression[_pos++];
            if (c != '\\')
            {
                return c;
            }

            if (_pos == expression.Length)
            {
                return Fail("the expression may not end with '\\'", _pos, "write '\\\\' for a backslash");
            }

            var escaped = expression[_pos++];
            return escaped is '(' or ')' or '{' or '}' or '/' or '\\' || char.IsWhiteSpace(escaped)
                ? escaped
                : Fail($"'\\{escaped}' is not an escape", _pos - 1, "only ( ) { } / \\ and whitespace can be escaped");
        }

        private void Parameter()
        {
            var start = _pos++;
            var name = new StringBuilder();
            while (true)
            {
                if (_pos == expression.Length || expression[_pos] == '{')
                {
                    Fail("unclosed '{'", start + 1, "add '}' or write '\\{' for a literal brace");
                    return;
                }

                var c = expression[_pos++];
                if (c == '}')
                {
                    break;
                }

                if (c is '(' or ')' or '/' or '\\')
                {
                    Fail($"'{c}' may not appear in a parameter type name", _pos);
                    return;
                }

                name.Append(c);
            }

            var typeName = name.ToString();
            if (!types.TryGetValue(typeName, out var type))
            {
                Fail($"unknown parameter type {{{typeName}}}", start + 1, $"register it with [ParameterType(\"{typeName}\", ...)]");
                return;
            }

            var alternatives = new List<string>();
            foreach (var regex in type.Regexes)
            {
                var rewritten = NonCapturing(regex);
                try
                {
                    // Checked here, not when registered, so that the error can point at a use;
                    // built once however many steps use the type.
                    _ = StepRegex.Get(rewritten);
                }
                catch (ArgumentException e)
                {
                    Fail($"parameter type {{{typeName}}} has an invalid regex '{regex}'", start + 1, e.Message);
                    return;
                }

                alternatives.Add(rewritten);
            }

            _regex.Append('(')
                .Append(alternatives.Count == 1 ? alternatives[0] : string.Join("|", alternatives.Select(a => $"(?:{a})")))
                .Append(')');
            _names.Add(typeName);
        }

        private void Optional()
        {
            var start = _pos++;
            var text = new StringBuilder();
            while (true)
            {
                if (_pos == expression.Length)
                {
                    Fail("unclosed '('", start + 1, "add ')' or write '\\(' for a literal parenthesis");
                    return;
                }

                switch (expression[_pos])
                {
                    case ')':
                        _pos++;
                        if (text.Length == 0)
                        {
                            Fail("optional text may not be empty", start + 1, "write '\\(\\)' for literal parentheses");
                            return;
                        }

                        _word.Add(new Piece(PieceKind.Optional, text.ToString(), start + 1));
                        return;
                    case '(':
                        Fail("optional text may not be nested", _pos + 1);
                        return;
                    case '{':
                        Fail("optional text may not contain a parameter", _pos + 1);
                        return;
                    case '/':
                        Fail("optional text may not contain an alternation", _pos + 1, "write '\\/' for a literal slash");
                        return;
                    default:
                        if (ReadLiteral() is not { } literal)
                        {
                            return;
                        }

                        text.Append(literal);
                        break;
                }
            }
        }

        /// <summary>Emits the word read so far: its pieces in order, or an alternation if it has a '/'.</summary>
        private void FlushWord()
        {
            var word = _word.ToList();
            _word.Clear();
            if (Error is not null)
            {
                return;
            }

            if (word.All(p => p.Kind != PieceKind.Slash))
            {
                _regex.Append(string.Concat(word.Select(RegexOf)));
                return;
            }

            // Each alternative is reported at the '/' next to it: the one before it, or for
            // the first alternative the one after. A sentinel '/' (column 0) ends the last.
            var alternatives = new List<string>();
            var current = new List<Piece>();
            var slash = word.First(p => p.Kind == PieceKind.Slash).Column;
            foreach (var piece in word.Append(new Piece(PieceKind.Slash, "", 0)))
            {
                if (piece.Kind != PieceKind.Slash)
                {
                    current.Add(piece);
                    continue;
                }

                if (current.Count == 0)
                {
                    Fail("alternation may not be empty", slash, "write '\\/' for a literal slash");
                    return;
                }

                if (current.All(p => p.Kind == PieceKind.Optional))
                {
                    Fail("an alternative may not be only optional text", slash);
                    return;
                }

                alternatives.Add(string.Concat(current.Select(RegexOf)));
                current.Clear();
                slash = piece.Column == 0 ? slash : piece.Column;
            }

            _regex.Append("(?:").Append(string.Join("|", alternatives)).Append(')');
        }

        private static string RegexOf(Piece piece) =>
            piece.Kind == PieceKind.Optional ? $"(?:{RegexEscape(piece.Text)})?" : RegexEscape(piece.Text);

        private char? Fail(string problem, int column, string? hint = null)
        {
            Error ??= $"{problem} at column {column}" + (hint is null ? "" : $": {hint}");
            return null;
        }
    }
}
