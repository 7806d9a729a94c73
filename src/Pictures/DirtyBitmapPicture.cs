using System.Numerics;

namespace SpecKit.Pictures;

/// <summary>
/// A memslot's dirty bitmap (as KVM_GET_DIRTY_LOG fills it, bit i for gfn base + i) as a strip
/// of pages, 64 to a row; past 4,096 pages a cell stands for a group of pages, shaded by how
/// many of them are dirty. A run of cells alike in a row is one element (its cells drawn by an
/// SVG pattern, its title naming the run's GFNs), so a 1,024-page slot with a few dirty pages
/// is a few dozen elements, not a thousand: every snapshot step of a run attaches one.
/// </summary>
public static class DirtyBitmapPicture
{
    private const int PerRow = 64;
    private const int MaxCells = 4096;
    private const double Cell = 11;
    private const double Pitch = Cell + 1;
    private const double RowPitch = Cell + 3;
    private const double Left = 110;
    private const double Top = 34;

    private static readonly (string Id, string Fill, string Stroke)[] States =
    [
        ("clean", "#eceff1", "#cfd8dc"),
        ("some", "#f3a683", "#b23a1a"),
        ("dirty", "#e4572e", "#b23a1a"),
    ];

    public static string Render(ulong baseGfn, ulong npages, IReadOnlyList<ulong> bitmap, string title)
    {
        ulong group = 1;
        while (npages / group > MaxCells)
        {
            group *= 2;
        }

        var cells = (int)((npages + group - 1) / group);
        var dirtyPages = bitmap.Sum(w => (long)BitOperations.PopCount(w));
        var rows = Math.Max(1, (cells + PerRow - 1) / PerRow);
        var svg = new Svg();
        foreach (var (id, fill, stroke) in States)
        {
            svg.Pattern(id, Left, Top, Pitch, RowPitch, $"<rect x=\"0.4\" y=\"0.4\" width=\"10.2\" height=\"10.2\" rx=\"1.5\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"0.8\"/>");
        }

        svg.Text(12, 20, $"{title}: {dirtyPages} of {npages} pages dirty" + (group > 1 ? $" (a cell is {group} pages)" : ""), 13, weight: "bold");
        for (var row = 0; row < rows; row++)
        {
            var y = Top + (row * RowPitch);
            svg.Text(12, y + 9, $"gfn 0x{baseGfn + ((ulong)row * PerRow * group):x}", 10, "#555");
            var rowCells = Math.Min(PerRow, cells - (row * PerRow));
            for (var col = 0; col < rowCells;)
            {
                var (state, dirty, count) = CellState(row * PerRow + col, group, npages, bitmap);

                // A partly dirty group is a cell of its own: its title counts its dirty pages.
                var end = col + 1;
                while (state != 1 && end < rowCells && CellState(row * PerRow + end, group, npages, bitmap).State == state)
                {
                    end++;
                }

                var first = (ulong)(row * PerRow + col) * group;
                var last = Math.Min((ulong)(row * PerRow + end) * group, npages) - 1;
                var what = state == 1 ? $"{dirty} of {count} dirty" : States[state].Id;
                svg.Rect(Left + (col * Pitch), y, ((end - col) * Pitch) - 1, Cell, $"url(#{States[state].Id})", "none", 0, radius: 0,
                    title: first == last ? $"gfn 0x{baseGfn + first:x}: {what}" : $"gfns 0x{baseGfn + first:x}..0x{baseGfn + last:x}: {what}");
                col = end;
            }
        }

        var legendY = Top + (rows * RowPitch) + 8;
        svg.Rect(12, legendY, Cell, Cell, States[2].Fill, States[2].Stroke, 0.8, radius: 1.5);
        svg.Text(28, legendY + 9, "dirty", 10);
        svg.Rect(70, legendY, Cell, Cell, States[0].Fill, States[0].Stroke, 0.8, radius: 1.5);
        svg.Text(86, legendY + 9, "clean", 10);
        if (group > 1)
        {
            svg.Rect(128, legendY, Cell, Cell, States[1].Fill, States[1].Stroke, 0.8, radius: 1.5);
            svg.Text(144, legendY + 9, "some dirty", 10);
        }

        return svg.Document(Left + (PerRow * Pitch) + 12, legendY + 22, title);
    }

    /// <summary>A cell's state (0 clean, 1 some pages dirty, 2 all dirty), its dirty pages and its pages.</summary>
    private static (int State, ulong Dirty, ulong Count) CellState(int cell, ulong group, ulong npages, IReadOnlyList<ulong> bitmap)
    {
        var first = (ulong)cell * group;
        var count = Math.Min(group, npages - first);
        var dirty = 0ul;
        for (var page = first; page < first + count; page++)
        {
            var word = (int)(page / 64);
            if (word < bitmap.Count && (bitmap[word] & (1ul << (int)(page % 64))) != 0)
            {
                dirty++;
            }
        }

        return (dirty == 0 ? 0 : dirty == count ? 2 : 1, dirty, count);
    }
}
