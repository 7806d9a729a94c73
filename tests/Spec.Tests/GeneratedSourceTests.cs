using SpecKit.Spec.Tests.Support;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The generated model, one snapshot per generated file plus one for diagnostics, as
/// Verify.SourceGenerators does: a spec edit shows up in review as a diff of these.
/// </summary>
public class GeneratedSourceTests
{
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "Spec.Tests", "Snapshots", "Generated");

    [Fact]
    public void The_real_spec_generates_without_diagnostics()
    {
        var result = SpecDriver.Run(SpecDriver.RealSpec());
        var diagnostics = SpecDriver.Render(result.Diagnostics);
        Snapshot.Verify(Dir, "diagnostics", diagnostics.Length == 0 ? "(no diagnostics)" : diagnostics);
        Assert.Empty(result.Diagnostics);
    }

    public static TheoryData<string> HintNames()
    {
        var data = new TheoryData<string>();
        foreach (var source in SpecDriver.Run(SpecDriver.RealSpec()).GeneratedSources)
        {
            data.Add(source.HintName);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(HintNames))]
    public void Generated_source_matches_its_snapshot(string hintName)
    {
        var source = SpecDriver.Run(SpecDriver.RealSpec()).GeneratedSources.Single(s => s.HintName == hintName);
        Snapshot.Verify(Dir, Path.GetFileNameWithoutExtension(hintName), source.SourceText.ToString(), "cs");
    }

    [Fact]
    public void Every_snapshot_belongs_to_a_generated_file()
    {
        var names = SpecDriver.Run(SpecDriver.RealSpec()).GeneratedSources.Select(s => Path.GetFileNameWithoutExtension(s.HintName));
        Assert.Empty(Snapshot.Unclaimed(Dir, names, "cs"));
    }

    [Fact]
    public void Output_is_byte_identical_across_runs_and_file_orders()
    {
        var files = SpecDriver.RealSpec();
        var first = SpecDriver.Run(files).GeneratedSources.Select(s => (s.HintName, s.SourceText.ToString())).ToList();
        var second = SpecDriver.Run(files.Reverse()).GeneratedSources.Select(s => (s.HintName, s.SourceText.ToString())).OrderBy(s => first.FindIndex(f => f.HintName == s.HintName)).ToList();
        Assert.Equal(first, second);
    }

    [Fact]
    public void Each_variant_is_a_whole_model_in_its_own_namespace()
    {
        var sources = SpecDriver.Run(SpecDriver.RealSpec()).GeneratedSources;
        var baseNames = sources.Where(s => !s.HintName.StartsWith("Variants.", StringComparison.Ordinal)).Select(s => s.HintName).ToHashSet();
        var variant = sources.Where(s => s.HintName.StartsWith("Variants.RemovedSpte.", StringComparison.Ordinal)).ToList();
        Assert.Equal(baseNames, variant.Select(s => s.HintName["Variants.RemovedSpte.".Length..]).ToHashSet());
        Assert.All(variant, s => Assert.Contains("namespace SpecKit.Mmu.Variants.RemovedSpte;", s.SourceText.ToString(), StringComparison.Ordinal));
    }
}
