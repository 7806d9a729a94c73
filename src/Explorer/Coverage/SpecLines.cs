using System.Globalization;

namespace SpecKit.Explorer.Coverage;

/// <summary>One <c>Key Value... "source"</c> line of an Operation block, where it is.</summary>
public sealed record PolicyLine(string File, int Line, string Operation, string Key, IReadOnlyList<string> Values, string Source)
{
    public string Subject => $"{Operation}.{Key}";

    public string Value => string.Join(" ", Values);

    /// <summary>The title of the line's Operation block, which a mutant keeps (a step may print it).</summary>
    public string Title { get; init; } = "";
}

/// <summary>
/// An <c>Equivalent Key [Value...] "why"</c> or <c>Unread Key "why"</c> line of an Operation block:
/// what the spec records about the mutants of its Key line (spec/README.md, "Spec coverage").
/// </summary>
public sealed record CoverageNote(string File, int Line, string Operation, bool Unread, string Key, IReadOnlyList<string> Values, string Reason)
{
    /// <summary>Whether this note covers changing the key to <paramref name="value"/> (a list key's toggles by the value toggled).</summary>
    public bool Covers(string value) => Values.Count == 0 || Values.Contains(value);
}

/// <summary>A named field of a Layout (a <c>Field</c> or an <c>Enum</c>), with the bits as written.</summary>
public sealed record LayoutFieldLine(string File, int Line, string Layout, string Name, int Hi, int Lo, string BitsText)
{
    public int Width => Hi - Lo + 1;
}

/// <summary>A Layout block: its fields, and its lines as written, so a variant can restate it with two fields swapped.</summary>
public sealed record LayoutBlock(string File, int Line, string Name, IReadOnlyList<LayoutFieldLine> Fields, IReadOnlyList<string> Text);

/// <summary>
/// The parts of spec/ the coverage report mutates, read from the files as written: the key lines
/// of the base's Operation blocks (spec/policy) with the notes beside them, and the base's
/// layouts (spec/layouts). The spec generator has checked the files by the time a build runs
/// (this reader is only ever given a spec that builds), so it only tokenizes.
/// </summary>
public static class SpecLines
{
    public sealed record Spec(IReadOnlyList<PolicyLine> Policy, IReadOnlyList<CoverageNote> Notes, IReadOnlyList<LayoutBlock> Layouts);

    /// <summary>Reads <paramref name="specDir"/>'s policy/*.policy and layouts/*.layout; paths in the result are relative to <paramref name="root"/>.</summary>
    public static Spec Read(string specDir, string root)
    {
        var policy = new List<PolicyLine>();
        var notes = new List<CoverageNote>();
        var layouts = new List<LayoutBlock>();
        foreach (var path in Files(specDir, "policy", "*.policy"))
        {
            ReadPolicy(Relative(root, path), File.ReadAllLines(path), policy, notes);
        }

        foreach (var path in Files(specDir, "layouts", "*.layout"))
        {
            layouts.AddRange(ReadLayouts(Relative(root, path), File.ReadAllLines(path)));
        }

        return new Spec(policy, notes, layouts);
    }

    private static IEnumerable<string> Files(string specDir, string folder, string pattern) =>
        Directory.Exists(Path.Combine(specDir, folder))
            ? Directory.GetFiles(Path.Combine(specDir, folder), pattern).Order(StringComparer.Ordinal)
            : [];

    private static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');

    public static void ReadPolicy(string file, string[] lines, List<PolicyLine> policy, List<CoverageNote> notes)
    {
        string? operation = null;
        var title = "";
        for (var i = 0; i < lines.Length; i++)
        {
            var tokens = Tokens(lines[i]);
            if (tokens.Count == 0)
            {
                continue;
            }

            if (tokens[0].Text == "Variant")
            {
                return; // a variant's file: not a line of the base spec
            }

            if (tokens[0].Text == "Operation" && tokens.Count > 1)
            {
                operation = tokens[1].Text;
                title = tokens.FirstOrDefault(t => t.Quoted)?.Text ?? "";
                continue;
            }

            if (tokens[0].Text == "EndOperation")
            {
                operation = null;
                continue;
            }

            if (operation is null)
            {
                continue;
            }

            var words = tokens.Skip(1).TakeWhile(t => !t.Quoted).Select(t => t.Text).ToList();
            var source = tokens.FirstOrDefault(t => t.Quoted)?.Text ?? "";
            if (tokens[0].Text is "Equivalent" or "Unread" && words.Count > 0)
            {
                notes.Add(new CoverageNote(file, i + 1, operation, tokens[0].Text == "Unread", words[0], words.Skip(1).ToList(), source));
            }
            else if (words.Count > 0)
            {
                policy.Add(new PolicyLine(file, i + 1, operation, tokens[0].Text, words, source) { Title = title });
            }
        }
    }

    public static IEnumerable<LayoutBlock> ReadLayouts(string file, string[] lines)
    {
        for (var i = 0; i < lines.Length; i++)
        {
            var tokens = Tokens(lines[i]);
            if (tokens.Count == 0)
            {
                continue;
            }

            if (tokens[0].Text == "Variant")
            {
                yield break;
            }

            if (tokens[0].Text != "Layout" || tokens.Count < 2)
            {
                continue;
            }

            var name = tokens[1].Text;
            var start = i;
            var fields = new List<LayoutFieldLine>();
            for (i++; i < lines.Length; i++)
            {
                var t = Tokens(lines[i]);
                if (t.Count > 0 && t[0].Text == "EndLayout")
                {
                    break;
                }

                if (t.Count >= 3 && t[0].Text is "Field" or "Enum" && Bits(t[1].Text) is { } bits)
                {
                    fields.Add(new LayoutFieldLine(file, i + 1, name, t[2].Text, bits.Hi, bits.Lo, t[1].Text));
                }
            }

            yield return new LayoutBlock(file, start + 1, name, fields, lines[start..Math.Min(i + 1, lines.Length)]);
        }
    }

    /// <summary><c>5:3</c> or <c>7</c>.</summary>
    public static (int Hi, int Lo)? Bits(string text)
    {
        var parts = text.Split(':');
        return parts.Length switch
        {
            1 when int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var b) => (b, b),
            2 when int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var hi)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var lo) => (hi, lo),
            _ => null,
        };
    }

    public sealed record Token(string Text, bool Quoted, int Column);

    /// <summary>The words and quoted strings of a spec line, up to a <c>#</c> comment.</summary>
    public static List<Token> Tokens(string line)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < line.Length)
        {
            if (char.IsWhiteSpace(line[i]))
            {
                i++;
            }
            else if (line[i] == '#')
            {
                break;
            }
            else if (line[i] == '"')
            {
                var end = line.IndexOf('"', i + 1);
                end = end < 0 ? line.Length : end;
                tokens.Add(new Token(line[(i + 1)..end], true, i));
                i = end + 1;
            }
            else
            {
                var start = i;
                while (i < line.Length && !char.IsWhiteSpace(line[i]) && line[i] != '"')
                {
                    i++;
                }

                tokens.Add(new Token(line[start..i], false, start));
            }
        }

        return tokens;
    }
}
