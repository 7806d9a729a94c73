using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

internal static partial class SpecEmitter
{
    /// <summary>The walker's geometry: the kernel's level and index arithmetic, from the spec's numbers.</summary>
    private static string EmitWalker(WalkerUnit unit)
    {
        var walker = unit.Walker;
        var w = Header(unit.Model, walker.Origin, $"Walker {walker.Name} geometry");
        var entries = 1 << walker.LevelBits;
        var maxLeaf = walker.Levels.Where(l => l.MayBeLeaf).Max(l => l.Level);
        w.Line($"/// <summary>{Xml(walker.Title)}: levels, indices and the entry bits that steer a walk.</summary>");
        w.Line("/// <remarks>");
        foreach (var source in walker.Sources)
        {
            w.Line($"/// {Xml(source)}<br/>");
        }

        w.Line("/// </remarks>");
        using (w.Block($"public static partial class {walker.Name}Walker"))
        {
            w.Line($"public const int PageShift = {Int(walker.PageShift)};");
            w.Line($"public const int LevelBits = {Int(walker.LevelBits)};");
            w.Line($"public const int EntriesPerTable = {Int(entries)};");
            w.Line($"public const int MinRootLevel = {Int(walker.MinRootLevel)};");
            w.Line($"public const int MaxRootLevel = {Int(walker.MaxRootLevel)};");
            w.Line();
            w.Line("/// <summary>The highest level at which an entry may map a page (KVM_MAX_HUGEPAGE_LEVEL).</summary>");
            w.Line($"public const int MaxHugePageLevel = {Int(maxLeaf)};");
            w.Line();
            foreach (var level in walker.Levels)
            {
                w.Line($"/// <summary>Level {Int(level.Level)}: {(level.MayBeLeaf ? "may map a page" : "always references a table")} ({Xml(level.Source)}).</summary>");
                w.Line($"public const int {level.Name}Level = {Int(level.Level)};");
                w.Line();
            }

            w.Comment($"{walker.Present.Text}: {walker.Present.Source}");
            w.Line($"public const ulong PresentMask = {Hex(walker.Present.Mask)};");
            w.Line();
            w.Comment($"{walker.Huge.Text}: {walker.Huge.Source}");
            w.Line($"public const ulong HugeMask = {Hex(walker.Huge.Mask)};");
            w.Line();
            w.Comment($"{walker.Address.Text}: {walker.Address.Source}");
            w.Line($"public const ulong AddressMask = {Hex(walker.Address.Mask)};");
            w.Line($"public const int AddressShift = {Int(walker.Address.Shift)};");
            w.Line();
            w.Line("/// <summary>KVM_PAGES_PER_HPAGE(level): how many 4K frames one entry at <paramref name=\"level\"/> covers.</summary>");
            w.Line("public static ulong PagesPerHpage(int level) => 1UL << ((level - 1) * LevelBits);");
            w.Line();
            w.Line("/// <summary>gfn_round_for_level(): the first GFN of the entry at <paramref name=\"level\"/> that covers <paramref name=\"gfn\"/>.</summary>");
            w.Line("public static ulong GfnRoundForLevel(ulong gfn, int level) => gfn & ~(PagesPerHpage(level) - 1);");
            w.Line();
            w.Line("/// <summary>SPTE_INDEX(gfn &lt;&lt; PAGE_SHIFT, level): which of a table's entries covers <paramref name=\"gfn\"/>.</summary>");
            w.Line("public static int SpteIndex(ulong gfn, int level) => (int)((gfn >> ((level - 1) * LevelBits)) & (EntriesPerTable - 1));");
            w.Line();
            w.Line("/// <summary>The first GFN beyond what a root at <paramref name=\"rootLevel\"/> can map.</summary>");
            w.Line("public static ulong MaxGfnExclusive(int rootLevel) => 1UL << (rootLevel * LevelBits);");
            w.Line();
            w.Line("/// <summary>is_shadow_present_pte().</summary>");
            w.Line("public static bool IsShadowPresent(ulong spte) => (spte & PresentMask) != 0;");
            w.Line();
            w.Line($"/// <summary>is_last_spte(): level {Int(walker.Levels[0].Level)} entries always map; above it only when the huge bit is set.</summary>");
            w.Line("public static bool IsLastSpte(ulong spte, int level) => level == 1 || (spte & HugeMask) != 0;");
            w.Line();
            w.Line("/// <summary>Whether an entry at <paramref name=\"level\"/> may map a page rather than a table.</summary>");
            w.Line($"public static bool MayBeLeaf(int level) => level >= 1 && level <= MaxHugePageLevel;");
            w.Line();
            w.Line("/// <summary>spte_to_pfn().</summary>");
            w.Line("public static ulong SpteToPfn(ulong spte) => (spte & AddressMask) >> AddressShift;");
            w.Line();
            using (w.Block("public static string LevelName(int level) => level switch", "};"))
            {
                foreach (var level in walker.Levels)
                {
                    w.Line($"{Int(level.Level)} => {Literal(level.Name)},");
                }

                w.Line("_ => \"L\" + level.ToString(global::System.Globalization.CultureInfo.InvariantCulture),");
            }
        }

        return w.ToString();
    }
}
