namespace SpecKit.Pictures;

/// <summary>
/// The SPTE tree a snapshot step snapshots, as SVG: levels as rows, an entry a box (a run of
/// leaves one box, as the text collapses it), coloured by kind, each leaf with its W, D, A,
/// MMU-writable and Host-writable bits as badges (set: filled) and access-tracked leaves dashed.
/// </summary>
public static class SptePicture
{
    private const double BoxWidth = 190;
    private const double BoxHeight = 52;
    private const double Gap = 12;
    private const double RowHeight = 84;
    private const double Margin = 16;
    private const double RowLabelWidth = 92;
    private const double TitleHeight = 30;
    private const double LegendHeight = 56;

    /// <summary>How an entry differs from the other tree of a comparison.</summary>
    public enum Mark
    {
        None,
        Changed,
        Gone,
        New,
    }

    public static string Render(string snapshot, string title)
    {
        var tree = Draw(SpteTree.Parse(snapshot), _ => Mark.None, out var width, out var height);
        var svg = new Svg();
        svg.Text(Margin, 20, title, 14, weight: "bold");
        svg.Group(tree, 0, TitleHeight);
        Legend(svg, Margin, TitleHeight + height + 8, comparison: false);
        return svg.Document(Math.Max(width, 760), TitleHeight + height + LegendHeight, title);
    }

    /// <summary>
    /// Two trees side by side (two models after the same steps): an entry only on the left is
    /// marked gone (zapped on the right), only on the right new, on both but different changed.
    /// </summary>
    public static string SideBySide(string leftTitle, string left, string rightTitle, string right, string title)
    {
        var leftTree = SpteTree.Parse(left);
        var rightTree = SpteTree.Parse(right);
        var leftLines = Flatten(leftTree).ToDictionary(n => n.Key, n => n.Line);
        var rightLines = Flatten(rightTree).ToDictionary(n => n.Key, n => n.Line);
        Mark MarkOf(SpteNode node, Dictionary<string, string> other, Mark missing) =>
            !other.TryGetValue(node.Key, out var line) ? missing : line != node.Line ? Mark.Changed : Mark.None;
        var leftSvg = Draw(leftTree, n => MarkOf(n, rightLines, Mark.Gone), out var leftWidth, out var leftHeight);
        var rightSvg = Draw(rightTree, n => MarkOf(n, leftLines, Mark.New), out var rightWidth, out var rightHeight);
        var differences = Flatten(leftTree).Count(n => MarkOf(n, rightLines, Mark.Gone) != Mark.None) + Flatten(rightTree).Count(n => !leftLines.ContainsKey(n.Key));

        var svg = new Svg();
        svg.Text(Margin, 20, $"{title}: {differences} difference{(differences == 1 ? "" : "s")}", 14, weight: "bold");
        svg.Text(Margin, TitleHeight + 16, leftTitle, 13, weight: "bold");
        svg.Text(leftWidth + Margin, TitleHeight + 16, rightTitle, 13, weight: "bold");
        svg.Group(leftSvg, 0, TitleHeight + 24);
        svg.Line(leftWidth, TitleHeight, leftWidth, TitleHeight + 24 + Math.Max(leftHeight, rightHeight), "#bbb", 2);
        svg.Group(rightSvg, leftWidth, TitleHeight + 24);
        var height = TitleHeight + 24 + Math.Max(leftHeight, rightHeight);
        Legend(svg, Margin, height + 8, comparison: true);
        return svg.Document(Math.Max(leftWidth + rightWidth, 900), height + LegendHeight, title);
    }

    private static IEnumerable<SpteNode> Flatten(IEnumerable<SpteNode> nodes) => nodes.SelectMany(n => new[] { n }.Concat(Flatten(n.Children)));

    /// <summary>Lays the tree out (leaves left to right in order, each parent over its children) and draws it.</summary>
    private static string Draw(List<SpteNode> roots, Func<SpteNode, Mark> mark, out double width, out double height)
    {
        var svg = new Svg();
        var x = new Dictionary<SpteNode, double>();
        var next = RowLabelWidth + Margin;
        double Place(SpteNode node)
        {
            if (node.Children.Count == 0)
            {
                x[node] = next;
                next += BoxWidth + Gap;
                return x[node];
            }

            var first = node.Children.Select(Place).ToList();
            return x[node] = (first[0] + first[^1]) / 2;
        }

        foreach (var root in roots)
        {
            Place(root);
        }

        var all = Flatten(roots).ToList();
        var depths = all.Count == 0 ? 1 : all.Max(n => n.Depth) + 1;
        for (var depth = 0; depth < depths; depth++)
        {
            var names = all.Where(n => n.Depth == depth && n.Kind != SpteKind.Heading).Select(RowName).Distinct().ToList();
            svg.Text(Margin, Top(depth) + (BoxHeight / 2) + 4, string.Join(" / ", names), 11, "#555", weight: "bold");
            if (depth > 0)
            {
                svg.Line(Margin, Top(depth) - ((RowHeight - BoxHeight) / 2), next, Top(depth) - ((RowHeight - BoxHeight) / 2), "#eee");
            }
        }

        foreach (var node in all)
        {
            foreach (var child in node.Children)
            {
                svg.Line(x[node] + (BoxWidth / 2), Top(node.Depth) + BoxHeight, x[child] + (BoxWidth / 2), Top(child.Depth), "#888");
            }
        }

        foreach (var node in all)
        {
            Box(svg, node, x[node], Top(node.Depth), mark(node));
        }

        if (all.Count == 0)
        {
            svg.Text(next, Top(0) + 20, "(no SPTEs)", 12, "#777");
            next += BoxWidth;
        }

        width = next + Margin;
        height = Top(depths - 1) + BoxHeight + Margin;
        return svg.Body;
    }

    private static double Top(int depth) => Margin + (depth * RowHeight);

    /// <summary>The row's name: the entry's level as the text names it (Pml4e, Pde, 4K, a shadow page's level).</summary>
    private static string RowName(SpteNode node)
    {
        var label = node.Label;
        var level = Patterns.Level.Match(node.Detail);
        if (level.Success)
        {
            return "level " + level.Groups[1].Value;
        }

        var words = label.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Length > 0 && words[0].StartsWith('[') ? (words.Length > 1 && words[1] == "gva" ? "leaf" : "table") : words.FirstOrDefault() ?? "";
    }

    private static void Box(Svg svg, SpteNode node, double x, double y, Mark mark)
    {
        var (fill, ink) = node.Kind switch
        {
            SpteKind.Table => ("#dbe9f6", "#123"),
            SpteKind.Leaf => ("#d6f0d2", "#123"),
            SpteKind.Huge => ("#ffe0b0", "#321"),
            SpteKind.Mmio => ("#eadcf6", "#213"),
            SpteKind.Frozen => ("#3a3a3a", "#fff"),
            _ => ("#f3f3f3", "#333"),
        };
        var (stroke, width) = mark switch
        {
            Mark.Gone => ("#d62828", 3.0),
            Mark.New => ("#1f6fd1", 3.0),
            Mark.Changed => ("#e69500", 3.0),
            _ => ("#555", 1.0),
        };
        svg.Rect(x, y, BoxWidth, BoxHeight, fill, stroke, width, node.AccessTracked ? "5,3" : null, title: node.Line + (mark == Mark.None ? "" : $" ({Describe(mark)})"));
        svg.Text(x + 6, y + 14, Fit(node.Label, 29), 10.5, ink, weight: "bold");
        if (node.Detail.Length > 0)
        {
            svg.Text(x + 6, y + 28, Fit(node.Detail, 30), 10, ink);
        }

        if (node.Kind is SpteKind.Leaf or SpteKind.Huge)
        {
            var badges = new (string Letter, bool Set)[] { ("W", node.Writable), ("D", node.Dirty), ("A", node.Accessed), ("M", node.MmuWritable), ("H", node.HostWritable) };
            for (var i = 0; i < badges.Length; i++)
            {
                var bx = x + 6 + (i * 18);
                svg.Rect(bx, y + 34, 15, 13, badges[i].Set ? "#2b2b2b" : "#fff", "#666", 1, radius: 2, title: BadgeName(badges[i].Letter) + (badges[i].Set ? " set" : " clear"));
                svg.Text(bx + 7.5, y + 44.5, badges[i].Letter, 9.5, badges[i].Set ? "#fff" : "#999", "middle", "bold");
            }

            if (node.AccessTracked)
            {
                svg.Text(x + 100, y + 45, "access-tracked", 9, ink);
            }
        }

        if (mark != Mark.None)
        {
            svg.Text(x + BoxWidth - 4, y + 14, Describe(mark), 9.5, stroke, "end", "bold");
        }
    }

    private static string Describe(Mark mark) => mark switch
    {
        Mark.Gone => "zapped",
        Mark.New => "new",
        Mark.Changed => "changed",
        _ => "",
    };

    private static string BadgeName(string letter) => letter switch
    {
        "W" => "W (writable)",
        "D" => "D (dirty)",
        "A" => "A (accessed)",
        "M" => "MMU-writable",
        _ => "Host-writable",
    };

    private static string Fit(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";

    private static void Legend(Svg svg, double x, double y, bool comparison)
    {
        var items = new (string Fill, string Text)[] { ("#dbe9f6", "table (present, non-leaf)"), ("#d6f0d2", "4K leaf"), ("#ffe0b0", "huge leaf (2M/1G)"), ("#eadcf6", "MMIO"), ("#3a3a3a", "frozen") };
        var at = x;
        foreach (var (fill, text) in items)
        {
            svg.Rect(at, y, 14, 14, fill, "#555", radius: 2);
            svg.Text(at + 18, y + 11, text, 10.5);
            at += 26 + (text.Length * 6.4);
        }

        svg.Rect(x, y + 22, 14, 14, "#fff", "#555", 1, "5,3", radius: 2);
        svg.Text(x + 18, y + 33, "access-tracked (dashed)   badges W D A M(MU-writable) H(ost-writable): filled = set", 10.5);
        if (comparison)
        {
            var mx = x + 560;
            foreach (var (color, text) in new[] { ("#d62828", "zapped: only on the left"), ("#1f6fd1", "new: only on the right"), ("#e69500", "changed") })
            {
                svg.Rect(mx, y + 22, 14, 14, "#fff", color, 3, radius: 2);
                svg.Text(mx + 18, y + 33, text, 10.5);
                mx += 32 + (text.Length * 6.4);
            }
        }
    }
}
