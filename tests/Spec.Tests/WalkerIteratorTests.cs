using SpecKit.Spec.Tests.Support;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The optional <c>Iterator Yes|No</c> walker key: a walker gets its tdp_iter.c iterator
/// unless it says <c>Iterator No</c> (guest page tables are walked per address, never iterated).
/// </summary>
public class WalkerIteratorTests
{
    private const string Layout = """
        Layout Entry "a test entry"
          Field    0      Present   "test"
          Field    7      PageSize  "test"
          Field    51:12  Addr      "test"
          Ignored  63:52            "test"
          Ignored  11:8             "test"
          Ignored  6:1              "test"
        EndLayout
        """;

    private static string Walker(string name, string? iterator) => $"""
        Walker {name} "a test walker"
          PageShift   12              "PAGE_SHIFT"
          LevelBits   9               "9 bits"
          RootLevels  4               "4 levels"
          Present     Entry.Present   "test"
          Huge        Entry.PageSize  "test"
          Address     Entry.Addr      "test"
        {(iterator is null ? "" : $"  Iterator    {iterator}  \"test\"")}
          Level  1  Pte    Leaf  "4K"
          Level  2  Pde    Leaf  "2M"
          Level  3  Pdpte  Leaf  "1G"
          Level  4  Pml4e  Table "root"
        EndWalker
        """;

    private static List<string> HintNames(params SpecFile[] files)
    {
        var result = SpecDriver.Run(files);
        Assert.Empty(result.Diagnostics);
        return result.GeneratedSources.Select(s => s.HintName).Order(StringComparer.Ordinal).ToList();
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("Yes", true)]
    [InlineData("No", false)]
    public void Iterator_is_emitted_unless_the_walker_says_No(string? iterator, bool emitted)
    {
        var hints = HintNames(new SpecFile("spec/entry.layout", Layout), new SpecFile("spec/w.walker", Walker("W", iterator)));
        Assert.Contains("WWalker.g.cs", hints);
        Assert.Equal(emitted, hints.Contains("WIter.g.cs"));
    }

    [Fact]
    public void Iterator_No_changes_nothing_but_the_iterator()
    {
        var with = SpecDriver.Run([new SpecFile("spec/entry.layout", Layout), new SpecFile("spec/w.walker", Walker("W", null))]).GeneratedSources;
        var without = SpecDriver.Run([new SpecFile("spec/entry.layout", Layout), new SpecFile("spec/w.walker", Walker("W", "No"))]).GeneratedSources;
        var geometry = without.Single(s => s.HintName == "WWalker.g.cs").SourceText.ToString();
        Assert.Equal(with.Single(s => s.HintName == "WWalker.g.cs").SourceText.ToString(), geometry.Replace("/// Iterator: test<br/>\n", "", StringComparison.Ordinal));
        Assert.Contains("Iterator: test", geometry, StringComparison.Ordinal);
        Assert.Equal(with.Length - 1, without.Length);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("Maybe")]
    [InlineData("No Yes")]
    public void Any_other_value_is_SPEC014_at_the_Iterator_line(string value)
    {
        var walker = Walker("W", value);
        var result = SpecDriver.Run([new SpecFile("spec/entry.layout", Layout), new SpecFile("spec/w.walker", walker)]);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("SPEC014", diagnostic.Id);
        Assert.Equal("Walker W: Iterator takes Yes or No, not '" + value + "'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        var line = walker.Split('\n').ToList().FindIndex(l => l.TrimStart().StartsWith("Iterator", StringComparison.Ordinal));
        Assert.Equal(line, diagnostic.Location.GetLineSpan().StartLinePosition.Line);
        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.StartsWith('W'));
    }
}
