namespace SpecKit.Pictures;

/// <summary>
/// The model's event log (<c>Kvm.Log</c>) as a numbered timeline, each line marked by what it
/// is: a fault, a zap, a TLB flush, dirty logging, an ioctl, a checker's report.
/// </summary>
public static class EventLogPicture
{
    private const int MaxLines = 200;
    private const double LineHeight = 16;

    private static readonly (string Name, string Color, Func<string, bool> Is)[] Kinds =
    [
        ("checker", "#d62828", l => l.Contains("INVARIANT BROKEN", StringComparison.Ordinal) || l.Contains("WARN", StringComparison.Ordinal)),
        ("fault", "#1f6fd1", l => l.Contains("fault", StringComparison.OrdinalIgnoreCase) || l.Contains("#PF", StringComparison.Ordinal)),
        ("zap", "#8e44ad", l => l.Contains("zap", StringComparison.OrdinalIgnoreCase)),
        ("flush", "#e69500", l => l.Contains("flush", StringComparison.OrdinalIgnoreCase)),
        ("dirty log", "#2a9d8f", l => l.Contains("dirty", StringComparison.OrdinalIgnoreCase)),
        ("ioctl", "#555", l => l.Contains("KVM_", StringComparison.Ordinal)),
    ];

    public static string Render(IReadOnlyList<string> log, string title)
    {
        var shown = Math.Min(log.Count, MaxLines);
        var svg = new Svg();
        svg.Text(12, 20, $"{title}: {log.Count} line{(log.Count == 1 ? "" : "s")}" + (shown < log.Count ? $" (the first {shown})" : ""), 13, weight: "bold");
        var width = 760.0;
        for (var i = 0; i < shown; i++)
        {
            var line = log[i];
            var y = 32 + (i * LineHeight);
            var kind = Kinds.FirstOrDefault(k => k.Is(line));
            svg.Text(38, y + 11, (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 9.5, "#999", "end");
            svg.Rect(44, y + 2, 8, 11, kind.Color ?? "#ddd", kind.Color ?? "#bbb", 0.5, radius: 1.5, title: kind.Name ?? "other");
            var indent = (line.Length - line.TrimStart().Length) * 6.0;
            var text = line.Trim();
            text = text.Length > 150 ? text[..149] + "…" : text;
            svg.Text(60 + indent, y + 11, text, 10.5);
            width = Math.Max(width, 72 + indent + (text.Length * 6.4));
        }

        var legendY = 32 + (shown * LineHeight) + 10;
        var at = 12.0;
        foreach (var (name, color, _) in Kinds)
        {
            svg.Rect(at, legendY, 8, 11, color, color, 0.5, radius: 1.5);
            svg.Text(at + 12, legendY + 10, name, 10);
            at += 24 + (name.Length * 6.4);
        }

        return svg.Document(width, legendY + 24, title);
    }
}
