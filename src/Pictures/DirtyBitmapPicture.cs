using System.Numerics;

namespace SpecKit.Pictures;

/// <summary>
/// A memslot's dirty bitmap (as KVM_GET_DIRTY_LOG fills it, bit i for gfn base + i) as a strip
/// of pages, 64 to a row; past 4,096 pages a cell stands for a group of pages, shaded by how
/// many of them are dirty.
/// </summary>
public static class DirtyBitmapPicture
{
    private const int PerRow = 64;
    private const int MaxCells = 4096;
    private const double Cell = 11;
    private const double Left = 110;

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
        svg.Text(12, 20, $"{title}: {dirtyPages} of {npages} pages dirty" + (group > 1 ? $" (a cell is {group} pages)" : ""), 13, weight: "bold");
        for (var row = 0; row < rows; row++)
        {
            var y = 34 + (row * (Cell + 3));
            svg.Text(12, y + 9, $"gfn 0x{baseGfn + ((ulong)row * PerRow * group):x}", 10, "#555");
            for (var col = 0; col < PerRow; col++)
            {
                var cell = (row * PerRow) + col;
                if (cell >= cells)
                {
                    break;
                }

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

                var fill = dirty == 0 ? "#eceff1" : dirty == count ? "#e4572e" : "#f3a683";
                svg.Rect(Left + (col * (Cell + 1)), y, Cell, Cell, fill, dirty == 0 ? "#cfd8dc" : "#b23a1a", 0.8, radius: 1.5,
                    title: group == 1 ? $"gfn 0x{baseGfn + first:x}: {(dirty == 0 ? "clean" : "dirty")}" : $"gfns 0x{baseGfn + first:x}..0x{baseGfn + first + count - 1:x}: {dirty} dirty");
            }
        }

        var legendY = 34 + (rows * (Cell + 3)) + 8;
        svg.Rect(12, legendY, Cell, Cell, "#e4572e", "#b23a1a", 0.8, radius: 1.5);
        svg.Text(28, legendY + 9, "dirty", 10);
        svg.Rect(70, legendY, Cell, Cell, "#eceff1", "#cfd8dc", 0.8, radius: 1.5);
        svg.Text(86, legendY + 9, "clean", 10);
        if (group > 1)
        {
            svg.Rect(128, legendY, Cell, Cell, "#f3a683", "#b23a1a", 0.8, radius: 1.5);
            svg.Text(144, legendY + 9, "some dirty", 10);
        }

        return svg.Document(Left + (PerRow * (Cell + 1)) + 12, legendY + 22, title);
    }
}
