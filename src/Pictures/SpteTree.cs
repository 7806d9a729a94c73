using System.Text.RegularExpressions;

namespace SpecKit.Pictures;

/// <summary>What an entry of an SPTE tree is, as the picture colours it.</summary>
public enum SpteKind
{
    /// <summary>A section heading (a TDX VM's mirror or direct root) or a note such as "(no present SPTEs)".</summary>
    Heading,

    /// <summary>A present non-leaf SPTE, or a shadow page: it points at a table on the next row.</summary>
    Table,

    /// <summary>A present 4K leaf (or a run of them).</summary>
    Leaf,

    /// <summary>A present 2M or 1G leaf.</summary>
    Huge,

    /// <summary>An MMIO SPTE.</summary>
    Mmio,

    /// <summary>A FROZEN_SPTE: an entry another walk owns for the moment.</summary>
    Frozen,
}

/// <summary>
/// One line of an SPTE snapshot (<c>Kvm.DescribeSptes()</c>) as a picture's box: a table entry,
/// or a leaf or a run of leaves exactly as the text collapses them.
/// </summary>
/// <param name="Key">What the entry is, without what it maps: the path of labels from the root, so two trees' entries can be matched.</param>
public sealed record SpteNode(int Depth, string Label, string Detail, SpteKind Kind, string Key)
{
    public List<SpteNode> Children { get; } = [];

    /// <summary>The whole line, for matching two trees' entries.</summary>
    public string Line => Detail.Length == 0 ? Label : Label + " -> " + Detail;

    public bool Writable => Flag("W", 0);

    public bool MmuWritable => Flag("MMU-W", 1);

    public bool HostWritable => Flag("HOST-W", 2);

    public bool Accessed => Flag("A", 3);

    public bool Dirty => Flag("D", 4);

    public bool AccessTracked => Detail.Contains("access-tracked", StringComparison.Ordinal);

    /// <summary>Whether a bit is set: in the TDP text's "WMHADX" field (by position), or as a word of the shadow MMU's list.</summary>
    private bool Flag(string word, int position)
    {
        if (Kind is not (SpteKind.Leaf or SpteKind.Huge))
        {
            return false;
        }

        var field = Patterns.FlagField.Match(Detail);
        if (field.Success)
        {
            return field.Value[position] != '-';
        }

        return Patterns.HasWord(Detail, word);
    }
}

/// <summary>Reads the SPTE snapshot text back into the tree it was printed from (indentation is depth).</summary>
public static class SpteTree
{
    public static List<SpteNode> Parse(string text)
    {
        var roots = new List<SpteNode>();
        var stack = new List<SpteNode>();
        foreach (var raw in text.Replace("\r", "").Split('\n'))
        {
            if (raw.Trim().Length == 0)
            {
                continue;
            }

            var depth = (raw.Length - raw.TrimStart(' ').Length) / 2;
            var line = raw.Trim();
            var arrow = line.IndexOf(" -> ", StringComparison.Ordinal);
            var label = arrow < 0 ? line : line[..arrow];
            var detail = arrow < 0 ? "" : line[(arrow + 4)..];

            // A shadow page's line is "sp gfn 0x101 level=3 access=uwx ...": its role is its detail.
            var role = arrow < 0 ? Patterns.ShadowPageLine.Match(line) : Match.Empty;
            if (role.Success)
            {
                (label, detail) = (role.Groups[1].Value, role.Groups[2].Value);
            }
            while (stack.Count > depth)
            {
                stack.RemoveAt(stack.Count - 1);
            }

            var parentKey = stack.Count > 0 ? stack[^1].Key + "/" : "";
            var node = new SpteNode(depth, label, detail, KindOf(label, detail, line), parentKey + KeyOf(label));
            if (stack.Count > 0)
            {
                stack[^1].Children.Add(node);
            }
            else
            {
                roots.Add(node);
            }

            while (stack.Count < depth)
            {
                stack.Add(node);
            }

            stack.Add(node);
        }

        return roots;
    }

    private static SpteKind KindOf(string label, string detail, string line)
    {
        if (line.Contains("frozen", StringComparison.OrdinalIgnoreCase))
        {
            return SpteKind.Frozen;
        }

        if (line.Contains("MMIO", StringComparison.Ordinal))
        {
            return SpteKind.Mmio;
        }

        if (detail.Length == 0)
        {
            return line.EndsWith(':') || line.StartsWith('(') || line.StartsWith("S-EPT", StringComparison.Ordinal) ? SpteKind.Heading : SpteKind.Table;
        }

        if (label.Contains("sp gfn", StringComparison.Ordinal))
        {
            return SpteKind.Table;
        }

        return label.StartsWith("2M", StringComparison.Ordinal) || label.StartsWith("1G", StringComparison.Ordinal) || Patterns.HugeLevel.IsMatch(detail) ? SpteKind.Huge : SpteKind.Leaf;
    }

    /// <summary>A shadow page's line carries its role after the gfn; the key keeps what names the entry.</summary>
    private static string KeyOf(string label)
    {
        var role = Patterns.ShadowPage.Match(label);
        return role.Success ? role.Groups[1].Value : label;
    }
}

/// <summary>The patterns a snapshot line is read with, generated at build time: every snapshot step of a run reads a tree.</summary>
internal static partial class Patterns
{
    /// <summary>The TDP text's "WMHADX" field.</summary>
    [GeneratedRegex(@"(?<![\w-])[W-][M-][H-][A-][D-][X-](?![\w-])")]
    public static partial Regex FlagField { get; }

    [GeneratedRegex(@"^(.*?sp gfn 0x[0-9a-f]+) (.*)$")]
    public static partial Regex ShadowPageLine { get; }

    [GeneratedRegex(@"^(.*?sp gfn 0x[0-9a-f]+)")]
    public static partial Regex ShadowPage { get; }

    [GeneratedRegex(@"level=[23]\b")]
    public static partial Regex HugeLevel { get; }

    [GeneratedRegex(@"level=(\d)")]
    public static partial Regex Level { get; }

    /// <summary>Whether <paramref name="word"/> ("W", "MMU-W") is a word of <paramref name="text"/>, as the shadow MMU's flag list writes it.</summary>
    public static bool HasWord(string text, string word)
    {
        for (var at = text.IndexOf(word, StringComparison.Ordinal); at >= 0; at = text.IndexOf(word, at + 1, StringComparison.Ordinal))
        {
            var end = at + word.Length;
            if ((at == 0 || !IsWordChar(text[at - 1])) && (end == text.Length || !IsWordChar(text[end])))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c is '_' or '-';
}
