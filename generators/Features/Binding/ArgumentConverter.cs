using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using System.Text;

namespace SpecKit.Generators.Features.Binding;

/// <summary>
/// Turns a step's captured text into the C# source of an argument, at build time: a bad
/// number in a .feature file is then a compile error at the step, not a test failure, and
/// the generated code passes plain literals (no parsing at run time, except for custom
/// parameter types, whose converter is user code).
/// </summary>
internal static class ArgumentConverter
{
    /// <summary>The integer types: their range, and how a literal of that type is written.</summary>
    private static readonly Dictionary<string, (BigInteger Min, BigInteger Max, string Cast, string Suffix)> Integers =
        new(StringComparer.Ordinal)
        {
            // No literal has a byte or short type, so those take a cast; a cast, rather than
            // relying on the implicit constant conversion, also keeps overload resolution exact.
            ["sbyte"] = (sbyte.MinValue, sbyte.MaxValue, "(sbyte)", ""),
            ["byte"] = (byte.MinValue, byte.MaxValue, "(byte)", ""),
            ["short"] = (short.MinValue, short.MaxValue, "(short)", ""),
            ["ushort"] = (ushort.MinValue, ushort.MaxValue, "(ushort)", ""),
            ["int"] = (int.MinValue, int.MaxValue, "", ""),
            ["uint"] = (uint.MinValue, uint.MaxValue, "", "U"),
            ["long"] = (long.MinValue, long.MaxValue, "", "L"),
            ["ulong"] = (ulong.MinValue, ulong.MaxValue, "", "UL"),
        };

    /// <summary>The range of an integer type by its C# keyword ("ulong"), or false for any other type.</summary>
    internal static bool TryGetRange(string clrType, out BigInteger min, out BigInteger max)
    {
        var found = Integers.TryGetValue(clrType.TrimEnd('?'), out var integer);
        (min, max) = found ? (integer.Min, integer.Max) : (BigInteger.Zero, BigInteger.Zero);
        return found;
    }

    /// <summary>
    /// Converts a capture for a step method parameter of type <paramref name="clrType"/>
    /// (as Roslyn prints it fully qualified); never throws.
    /// </summary>
    public static bool TryConvert(
        string captured,
        string parameterTypeName,
        string clrType,
        string? converter,
        bool isEnum,
        IReadOnlyList<string> enumMembers,
        out string csharpExpression,
        out string? error)
    {
        csharpExpression = "";
        error = null;

        // A custom type converts at run time, from exactly what its regex matched.
        if (converter is not null)
        {
            csharpExpression = $"{converter}({StringLiteral(captured)})";
            return true;
        }

        // {string} means the text between the quotes, whatever it is then converted to, so
        // that "Wb" can fill an enum parameter as well as a string one.
        var text = parameterTypeName == "string" ? Unquote(captured) : captured;

        // int? and string? take the same literal as int and string.
        var type = clrType.EndsWith("?", StringComparison.Ordinal) ? clrType.Substring(0, clrType.Length - 1) : clrType;

        string? expression;
        if (isEnum)
        {
            expression = EnumMember(text.Trim(), type, enumMembers, out error);
        }
        else if (Integers.TryGetValue(type, out var integer))
        {
            expression = Integer(text.Trim(), type, integer, out error);
        }
        else
        {
            expression = type switch
            {
                "string" => StringLiteral(text),
                "bool" => Bool(text.Trim(), out error),
                "double" => Real(text.Trim(), "double", "D", out error),
                "float" => Real(text.Trim(), "float", "F", out error),
                "decimal" => Real(text.Trim(), "decimal", "M", out error),
                _ => Unsupported(captured, clrType, out error),
            };
        }

        csharpExpression = expression ?? "";
        return expression is not null;
    }

    /// <summary>
    /// A regular C# string literal for <paramref name="value"/>. Line breaks, control
    /// characters and lone surrogates are escaped: the first two may not appear raw in a
    /// literal, and a lone surrogate cannot be written to a UTF-8 source file.
    /// </summary>
    public static string StringLiteral(string value)
    {
        var literal = new StringBuilder(value.Length + 2).Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"': literal.Append("\\\""); break;
                case '\\': literal.Append("\\\\"); break;
                case '\n': literal.Append("\\n"); break;
                case '\r': literal.Append("\\r"); break;
                case '\t': literal.Append("\\t"); break;
                case '\0': literal.Append("\\0"); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                    {
                        literal.Append(c).Append(value[++i]);
                    }
                    else if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029')
                    {
                        literal.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        literal.Append(c);
                    }

                    break;
            }
        }

        return literal.Append('"').ToString();
    }

    /// <summary>
    /// Parses a decimal or 0x hex integer, with an optional sign; hex digits may be grouped
    /// with '_' as in C#. Shared with the snippet suggestions, which must agree on sizes.
    /// </summary>
    internal static bool TryParseInteger(string text, out BigInteger value, out bool isHex)
    {
        value = BigInteger.Zero;
        var negative = text.StartsWith("-", StringComparison.Ordinal);
        var body = negative || text.StartsWith("+", StringComparison.Ordinal) ? text.Substring(1) : text;
        isHex = body.Length > 2 && body[0] == '0' && body[1] is 'x' or 'X';
        var digits = isHex ? body.Substring(2) : body;
        var valid = isHex
            ? digits.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F') or '_')
                && digits[0] != '_' && digits[digits.Length - 1] != '_'
            : digits.Length > 0 && digits.All(c => c is >= '0' and <= '9');
        if (!valid)
        {
            return false;
        }

        // The leading 0 keeps a hex number with its top bit set from parsing as negative.
        value = isHex
            ? BigInteger.Parse("0" + digits.Replace("_", ""), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : BigInteger.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        value = negative ? -value : value;
        return true;
    }

    private static string? Integer(string text, string type, (BigInteger Min, BigInteger Max, string Cast, string Suffix) integer, out string? error)
    {
        error = null;
        if (!TryParseInteger(text, out var value, out var isHex))
        {
            error = $"'{text}' is not an integer (write a decimal like 42 or hex like 0x2a)";
            return null;
        }

        if (value < integer.Min || value > integer.Max)
        {
            error = $"'{text}' does not fit in {type} ({integer.Min} to {integer.Max})";
            return null;
        }

        // Hex stays hex, as the feature author wrote it (GFNs read better that way). A
        // negative value is written in decimal: a hex literal has no sign.
        var digits = isHex && value >= 0
            ? "0x" + text.Substring(text.IndexOf("0x", StringComparison.OrdinalIgnoreCase) + 2).Replace("_", "")
            : value.ToString(CultureInfo.InvariantCulture);
        return integer.Cast + digits + integer.Suffix;
    }

    private static string? Bool(string text, out string? error)
    {
        error = null;
        switch (text.ToLowerInvariant())
        {
            case "true" or "yes":
                return "true";
            case "false" or "no":
                return "false";
            default:
                error = $"'{text}' is not a bool (write true or false)";
                return null;
        }
    }

    /// <summary>
    /// A double, float or decimal, reformatted from the parsed value ("R" round-trips) so
    /// that the literal is valid C# whatever the capture looked like ("1." is not).
    /// </summary>
    private static string? Real(string text, string type, string suffix, out string? error)
    {
        error = null;
        const NumberStyles Style = NumberStyles.Float;
        var invariant = CultureInfo.InvariantCulture;
        string? digits = null;
        var fits = true;
        switch (type)
        {
            case "double" when double.TryParse(text, Style, invariant, out var d) && !double.IsNaN(d):
                fits = !double.IsInfinity(d);
                digits = d.ToString("R", invariant);
                break;
            case "float" when float.TryParse(text, Style, invariant, out var f) && !float.IsNaN(f):
                fits = !float.IsInfinity(f);
                digits = f.ToString("R", invariant);
                break;
            case "decimal" when decimal.TryParse(text, Style, invariant, out var m):
                digits = m.ToString(invariant);
                break;
        }

        if (digits is null || !fits)
        {
            error = fits ? $"'{text}' is not a {type}" : $"'{text}' does not fit in {type}";
            return null;
        }

        return digits + suffix;
    }

    /// <summary>
    /// An enum member by name, case-insensitively (feature files say "wb" or "WB" for Wb);
    /// an exact match wins when two members differ only in case.
    /// </summary>
    private static string? EnumMember(string text, string type, IReadOnlyList<string> members, out string? error)
    {
        error = null;
        List<string> matches = members.Contains(text, StringComparer.Ordinal)
            ? [text]
            : members.Where(m => string.Equals(m, text, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 1)
        {
            // C# keywords are all lower-case ASCII, and '@' is allowed before any
            // identifier, so an all-lower-case member name is always safe with '@'.
            var member = matches[0];
            return $"{type}.{(member.All(c => c is >= 'a' and <= 'z') ? "@" : "")}{member}";
        }

        error = matches.Count == 0
            ? $"'{text}' is not a member of {type} (write one of: {string.Join(", ", members)})"
            : $"'{text}' matches several members of {type} ({string.Join(", ", matches)}): write one exactly";
        return null;
    }

    private static string? Unsupported(string captured, string clrType, out string? error)
    {
        error = $"'{captured}' cannot be converted to {clrType}: register a [ParameterType] whose method returns {clrType}";
        return null;
    }

    /// <summary>The text between a {string}'s quotes, with \" \' and \\ unescaped.</summary>
    private static string Unquote(string captured)
    {
        if (captured.Length < 2 || captured[0] is not ('"' or '\'') || captured[captured.Length - 1] != captured[0])
        {
            return captured;
        }

        var text = new StringBuilder(captured.Length);
        for (var i = 1; i < captured.Length - 1; i++)
        {
            var c = captured[i];
            if (c == '\\' && i + 1 < captured.Length - 1 && captured[i + 1] is '"' or '\'' or '\\')
            {
                c = captured[++i];
            }

            text.Append(c);
        }

        return text.ToString();
    }
}
