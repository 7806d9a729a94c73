using System;
using System.Globalization;
using System.Linq;
using System.Numerics;
using SpecKit.Generators.Features.Model;

namespace SpecKit.Generators.Features.Binding;

/// <summary>
/// Holds a custom parameter type's captures to what its [ParameterType] says it accepts (its
/// words, or an integer in a range), at build time, as the built-in types are held to theirs:
/// nothing reaches the type's method that it would have to reject at run time.
/// </summary>
internal static class AcceptedFormCheck
{
    /// <summary>Why the declaration itself cannot work (FEAT011), or null.</summary>
    public static string? Problem(ParameterTypeBinding type)
    {
        var form = type.Accepts;
        if (form.Problem is not null)
        {
            return form.Problem;
        }

        if (form.Integer && form.Words.Count > 0)
        {
            return "give Integer (or Min/Max) or words, not both";
        }

        if (form.Integer && !ArgumentConverter.TryGetRange(type.ReturnType, out _, out _))
        {
            return $"Integer needs a method that returns an integer type, not {type.ReturnType.Replace("global::", "")}";
        }

        if (form.Integer && Bounds(type) is var (min, max) && min > max)
        {
            return $"Min {min} is above Max {max}, or outside {type.ReturnType}";
        }

        // A word the regex cannot capture is a word no step can give.
        var regex = StepRegex.Get("^(?:" + type.Regex + ")$");
        var unmatched = form.Words.FirstOrDefault(w => !regex.IsMatch(w));
        return unmatched is null ? null : $"its regex never matches the word '{unmatched}'";
    }

    /// <summary>Checks one captured argument; the error names the type and what it accepts.</summary>
    public static bool Accepts(ParameterTypeBinding type, string text, out string? error)
    {
        error = null;
        var form = type.Accepts;
        if (form.Words.Count > 0 && !form.Words.Contains(text, StringComparer.Ordinal))
        {
            error = $"'{text}' is not {{{type.Name}}}: {Lead(form)}write {WordList(form)}{DidYouMean(form, text)}";
            return false;
        }

        if (form.Integer)
        {
            var (min, max) = Bounds(type);
            if (!ArgumentConverter.TryParseInteger(text.Trim(), out var value, out _) || value < min || value > max)
            {
                error = $"'{text}' is not {{{type.Name}}}: {Lead(form)}{IntegerForm(type)}";
                return false;
            }
        }

        return true;
    }

    /// <summary>What the type accepts, in words, for the step library.</summary>
    public static string Describe(ParameterTypeBinding type)
    {
        var form = type.Accepts;
        var accepts = form.Words.Count > 0 ? WordList(form) : form.Integer ? IntegerForm(type) : "";
        return form.Description is { } d ? (accepts.Length == 0 ? d : $"{d}: {accepts}") : accepts;
    }

    private static string Lead(AcceptedForm form) => form.Description is { } d ? d + "; " : "";

    private static string WordList(AcceptedForm form)
    {
        var words = form.Words.Count == 2 ? $"{form.Words[0]} or {form.Words[1]}" : "one of " + string.Join(", ", form.Words);
        return form.WordsFrom is null ? words : $"{words} (the members of {form.WordsFrom})";
    }

    private static string IntegerForm(ParameterTypeBinding type)
    {
        var (min, max) = Bounds(type);
        return $"an integer from {Number(min)} to {Number(max)}, decimal or 0x hex";
    }

    /// <summary>Hex for bounds that read better in hex (0xffffffffffffffff), decimal for small ones.</summary>
    private static string Number(BigInteger value) =>
        value > 0xffff ? "0x" + value.ToString("x", CultureInfo.InvariantCulture).TrimStart('0') : value.ToString(CultureInfo.InvariantCulture);

    private static (BigInteger Min, BigInteger Max) Bounds(ParameterTypeBinding type)
    {
        ArgumentConverter.TryGetRange(type.ReturnType, out var min, out var max);
        var form = type.Accepts;
        return (
            form.Min is { } low ? BigInteger.Max(min, BigInteger.Parse(low, CultureInfo.InvariantCulture)) : min,
            form.Max is { } high ? BigInteger.Min(max, BigInteger.Parse(high, CultureInfo.InvariantCulture)) : max);
    }

    /// <summary>The word meant by a wrong case or one slip of the keyboard, when there is exactly one.</summary>
    private static string DidYouMean(AcceptedForm form, string text)
    {
        var near = form.Words.Where(w => string.Equals(w, text, StringComparison.OrdinalIgnoreCase) || Distance(w, text) <= Math.Max(1, Math.Min(w.Length, text.Length) / 6)).ToList();
        return near.Count == 1 ? $" (did you mean {near[0]}?)" : "";
    }

    /// <summary>Levenshtein distance, for the "did you mean" hint.</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var previous = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }

        return row[b.Length];
    }
}
