using System;
using System.Collections.Generic;
using System.Text;

namespace SpecKit.Generators.Features.Binding;

/// <summary>
/// Which step patterns a step's text can match, found without running their regexes: a pattern
/// is a candidate only if the text starts with the pattern's literal lead (its text up to the
/// first group, class, anchor or quantifier) and holds, in order after it, the other literal
/// runs the pattern has outside groups. Both are necessary for a match, so the candidates are a
/// superset of the patterns that match; the regex still decides, on the few candidates. The
/// leads sit in a character trie, so finding them costs the text's length, not the number of
/// patterns.
/// </summary>
internal sealed class StepIndex
{
    private readonly Node _root = new();
    private readonly LiteralText[] _literals;

    /// <param name="regexes">The patterns: .NET regexes, compiled with no options but CultureInvariant; a candidate is an index into this list.</param>
    public StepIndex(IReadOnlyList<string> regexes)
    {
        _literals = new LiteralText[regexes.Count];
        for (var i = 0; i < regexes.Count; i++)
        {
            var literals = LiteralText.Of(regexes[i]);
            _literals[i] = literals;
            var node = _root;
            foreach (var c in literals.Lead)
            {
                if (!node.Next.TryGetValue(c, out var next))
                {
                    next = new Node();
                    node.Next[c] = next;
                }

                node = next;
            }

            node.Patterns.Add(i);
        }
    }

    /// <summary>The indexes of the patterns that can match <paramref name="text"/>, ascending.</summary>
    public List<int> Candidates(string text)
    {
        var found = new List<int>(_root.Patterns);
        var node = _root;
        for (var at = 0; at < text.Length && node.Next.TryGetValue(text[at], out node); at++)
        {
            found.AddRange(node.Patterns);
        }

        found.RemoveAll(i => !_literals[i].RunsHold(text));
        found.Sort();
        return found;
    }

    private sealed class Node
    {
        public Dictionary<char, Node> Next { get; } = new();

        public List<int> Patterns { get; } = [];
    }
}

/// <summary>
/// The literal text a regex requires of whatever it matches: <see cref="Lead"/> at the start
/// (after a leading <c>^</c>), then each of <see cref="Runs"/>, in order. Only text that is
/// certainly literal counts: characters at the top level (outside every group and class), not
/// escapes of letters or digits, and not the character a quantifier applies to. A regex whose
/// literal text cannot be read with certainty (a top-level alternation, inline options such as
/// <c>(?i)</c> or <c>(?x)</c>, nested classes, no leading <c>^</c>) requires nothing.
/// </summary>
internal sealed class LiteralText
{
    private static readonly LiteralText Nothing = new("", []);

    private LiteralText(string lead, string[] runs)
    {
        Lead = lead;
        Runs = runs;
    }

    public string Lead { get; }

    public string[] Runs { get; }

    /// <summary>Whether <paramref name="text"/>, which starts with <see cref="Lead"/>, holds every run in order after it.</summary>
    public bool RunsHold(string text)
    {
        var from = Lead.Length;
        foreach (var run in Runs)
        {
            var at = text.IndexOf(run, from, StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }

            from = at + run.Length;
        }

        return true;
    }

    public static LiteralText Of(string regex)
    {
        if (!regex.StartsWith("^", StringComparison.Ordinal) || HasUnreadableGroup(regex))
        {
            return Nothing;
        }

        string? lead = null;
        var runs = new List<string>();
        var run = new StringBuilder();
        var collecting = true;

        // The run so far ends: the first one is the lead, empty if something else came first.
        void End()
        {
            if (lead is null)
            {
                lead = run.ToString();
            }
            else if (collecting && run.Length > 0)
            {
                runs.Add(run.ToString());
            }

            run.Clear();
        }

        // After the first item whose extent is not certain, nothing more is collected, but the
        // rest is still read: a top-level '|' anywhere means the regex requires no text at all.
        void Stop()
        {
            End();
            collecting = false;
        }

        var i = 1;
        while (i < regex.Length)
        {
            var c = regex[i];
            switch (c)
            {
                case '\\' when i + 1 < regex.Length && !char.IsLetterOrDigit(regex[i + 1]):
                    i = Literal(regex[i + 1], i + 2);
                    break;
                case '\\':
                    Stop();
                    i += 2;
                    break;
                case '(':
                case '[':
                    i = c == '(' ? SkipGroup(regex, i) : SkipClass(regex, i);
                    if (i < 0)
                    {
                        return Nothing;
                    }

                    End();
                    i = SkipQuantifier(i);
                    break;
                case '|':
                case ')':
                    return Nothing;
                case '.' or '^' or '$' or ']' or '}':
                    End();
                    i = SkipQuantifier(i + 1);
                    break;
                case '?' or '*' or '+' or '{':
                    Stop();
                    i++;
                    break;
                default:
                    i = Literal(c, i + 1);
                    break;
            }
        }

        End();
        return new LiteralText(lead ?? "", runs.ToArray());

        // A literal character whose item ends at next: quantified, it is not required.
        int Literal(char literal, int next)
        {
            if (next < regex.Length && regex[next] is '?' or '*' or '+' or '{')
            {
                End();
                return SkipQuantifier(next);
            }

            if (collecting)
            {
                run.Append(literal);
            }

            return next;
        }

        // ?, *, + (and a lazy ?) are skipped; a '{' may or may not be a quantifier: stop there.
        int SkipQuantifier(int at)
        {
            if (at < regex.Length && regex[at] is '?' or '*' or '+')
            {
                at++;
                return at < regex.Length && regex[at] == '?' ? at + 1 : at;
            }

            if (at < regex.Length && regex[at] == '{')
            {
                Stop();
                return at + 1;
            }

            return at;
        }
    }

    /// <summary>
    /// Inline options ((?i) makes the text after it case-insensitive, (?x) its spaces mean
    /// nothing), comments and conditionals: any "(?" but a plain, named or look-around group.
    /// </summary>
    private static bool HasUnreadableGroup(string regex)
    {
        for (var at = regex.IndexOf("(?", StringComparison.Ordinal); at >= 0; at = regex.IndexOf("(?", at + 2, StringComparison.Ordinal))
        {
            var next = at + 2 < regex.Length ? regex[at + 2] : '\0';
            if (next is not (':' or '=' or '!' or '>' or '<' or '\''))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The index after the group opening at <paramref name="at"/>, or -1.</summary>
    private static int SkipGroup(string regex, int at)
    {
        var depth = 0;
        for (var i = at; i < regex.Length; i++)
        {
            switch (regex[i])
            {
                case '\\':
                    i++;
                    break;
                case '[':
                    i = SkipClass(regex, i);
                    if (i < 0)
                    {
                        return -1;
                    }

                    i--;
                    break;
                case '(':
                    depth++;
                    break;
                case ')':
                    if (--depth == 0)
                    {
                        return i + 1;
                    }

                    break;
            }
        }

        return -1;
    }

    /// <summary>The index after the character class opening at <paramref name="at"/>, or -1 (also for a nested class, as in a subtraction).</summary>
    private static int SkipClass(string regex, int at)
    {
        var i = at + 1;
        if (i < regex.Length && regex[i] == '^')
        {
            i++;
        }

        if (i < regex.Length && regex[i] == ']')
        {
            i++;
        }

        for (; i < regex.Length; i++)
        {
            switch (regex[i])
            {
                case '\\':
                    i++;
                    break;
                case '[':
                    return -1;
                case ']':
                    return i + 1;
            }
        }

        return -1;
    }
}
