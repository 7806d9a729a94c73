using System.Collections.Generic;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

/// <summary>
/// Parses the right-hand side of a <c>Value</c>:
/// <code>
/// expr    := shifted ('|' shifted)*
/// shifted := primary ('&lt;&lt;' number)?
/// primary := number | bit(number) | Name ('.' Name)* | '(' expr ')'
/// </code>
/// </summary>
internal sealed class ExprParser
{
    private readonly SpecParser _owner;
    private readonly SpecParser.Line _line;
    private readonly string _text;
    private readonly int _base;
    private int _pos;
    private bool _failed;

    public ExprParser(SpecParser owner, SpecParser.Line line, string text, int baseOffset)
    {
        _owner = owner;
        _line = line;
        _text = text;
        _base = baseOffset;
    }

    private int LineNumber => _line.Tokens[0].Line;

    public Expr? ParseWhole()
    {
        var expr = ParseOr();
        SkipSpace();
        if (!_failed && _pos < _text.Length)
        {
            Fail(_pos, _text.Length - _pos, $"Unexpected '{_text.Substring(_pos)}' in expression '{_text}'");
        }

        return _failed ? null : expr;
    }

    private Expr? ParseOr()
    {
        var start = _pos;
        var terms = new List<Expr>();
        do
        {
            var term = ParseShift();
            if (term is null)
            {
                return null;
            }

            terms.Add(term);
            SkipSpace();
        }
        while (Accept("|"));

        return terms.Count == 1 ? terms[0] : new OrExpr(terms.ToEquatableArray(), SpanOf(start, _pos - start));
    }

    private Expr? ParseShift()
    {
        SkipSpace();
        var start = _pos;
        var operand = ParsePrimary();
        if (operand is null)
        {
            return null;
        }

        SkipSpace();
        if (!Accept("<<"))
        {
            return operand;
        }

        SkipSpace();
        var countStart = _pos;
        var word = ReadWord();
        if (!SpecParser.TryParseNumber(word, out var count) || count > 63)
        {
            Fail(countStart, word.Length, $"Shift count '{word}' in expression '{_text}' must be a number from 0 to 63");
            return null;
        }

        return new ShiftExpr(operand, (int)count, SpanOf(start, _pos - start));
    }

    private Expr? ParsePrimary()
    {
        SkipSpace();
        var start = _pos;
        if (Accept("("))
        {
            var inner = ParseOr();
            SkipSpace();
            if (inner is null)
            {
                return null;
            }

            if (!Accept(")"))
            {
                Fail(start, _pos - start, $"Missing ')' in expression '{_text}'");
                return null;
            }

            return inner;
        }

        var word = ReadWord();
        if (word.Length == 0)
        {
            Fail(start, 1, $"Expected a number, bit(n) or a name in expression '{_text}'");
            return null;
        }

        if (char.IsDigit(word[0]))
        {
            var status = SpecParser.ParseNumber(word, out var value);
            if (status != SpecParser.NumberStatus.Ok)
            {
                _failed = true;
                _owner.ReportNumber(SpanOf(start, word.Length), word, status);
                return null;
            }

            return new NumberExpr(value, SpanOf(start, word.Length));
        }

        if (word == "bit" && Peek() == '(')
        {
            _pos++;
            var bitStart = _pos;
            var bitWord = ReadWord();
            if (!SpecParser.TryParseNumber(bitWord, out var bit) || bit > 63 || !Accept(")"))
            {
                Fail(bitStart, bitWord.Length, $"bit() takes a bit number from 0 to 63 in expression '{_text}'");
                return null;
            }

            return new BitExpr((int)bit, SpanOf(start, _pos - start));
        }

        var parts = word.Split('.');
        foreach (var part in parts)
        {
            if (!_owner.CheckName(SpanOf(start, word.Length), part, $"a part of the reference '{word}' (NAME, Layout.Field or Layout.Field.Member)"))
            {
                _failed = true;
                return null;
            }
        }

        return new RefExpr(parts.ToEquatableArray(), SpanOf(start, word.Length));
    }

    private string ReadWord()
    {
        var start = _pos;
        while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] is '_' or '.'))
        {
            _pos++;
        }

        return _text.Substring(start, _pos - start);
    }

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private bool Accept(string symbol)
    {
        if (string.CompareOrdinal(_text, _pos, symbol, 0, symbol.Length) == 0)
        {
            _pos += symbol.Length;
            return true;
        }

        return false;
    }

    private void SkipSpace()
    {
        while (_pos < _text.Length && SpecParser.IsSpace(_text[_pos]))
        {
            _pos++;
        }
    }

    private void Fail(int offset, int length, string message)
    {
        _failed = true;
        _owner.Report(Diagnostics.Syntax, SpanOf(offset, System.Math.Max(length, 1)), message);
    }

    private SourceSpan SpanOf(int offset, int length) => _owner.Span(LineNumber, _base + offset, length);
}
