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

    /// <summary>
    /// The generated files reviewers read: every base-model file, and each variant file that
    /// differs from its base counterpart by more than the namespace. A variant that changes one
    /// value shows up as one snapshot, not as a copy of the whole model.
    /// </summary>
    private static List<(string HintName, string Text)> Reviewed()
    {
        var sources = SpecDriver.Run(SpecDriver.RealSpec()).GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        return sources.Where(s => !IsSameAsBase(s.Key, s.Value, sources)).Select(s => (s.Key, s.Value)).ToList();
    }

    /// <summary>A variant file identical to the base file once its namespace and variant header line are taken out.</summary>
    private static bool IsSameAsBase(string hintName, string text, IReadOnlyDictionary<string, string> sources)
    {
        if (!hintName.StartsWith("Variants.", StringComparison.Ordinal))
        {
            return false;
        }

        var variant = hintName.Split('.')[1];
        var baseHint = hintName[$"Variants.{variant}.".Length..];
        return sources.TryGetValue(baseHint, out var baseText) && Neutral(text, $"SpecKit.Mmu.Variants.{variant}") == Neutral(baseText, "SpecKit.Mmu");
    }

    private static string Neutral(string text, string ns) =>
        string.Join("\n", text.Split('\n').Where(l => !l.StartsWith("// Variant ", StringComparison.Ordinal)))
            .Replace("namespace " + ns + ";", "namespace MODEL;", StringComparison.Ordinal);

    public static TheoryData<string> HintNames() => new(Reviewed().Select(r => r.HintName));

    [Theory]
    [MemberData(nameof(HintNames))]
    public void Generated_source_matches_its_snapshot(string hintName)
    {
        var source = Reviewed().Single(s => s.HintName == hintName);
        Snapshot.Verify(Dir, Path.GetFileNameWithoutExtension(hintName), source.Text, "cs");
    }

    [Fact]
    public void Every_snapshot_belongs_to_a_reviewed_generated_file()
    {
        var names = Reviewed().Select(s => Path.GetFileNameWithoutExtension(s.HintName));
        Assert.Empty(Snapshot.Unclaimed(Dir, names, "cs"));
    }

    [Fact]
    public void Variants_only_differ_where_their_overlay_says()
    {
        // The policy-only variants leave every layout, constant and walker as the base has them.
        var reviewed = Reviewed().Select(r => r.HintName).Where(h => h.StartsWith("Variants.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Contains("Variants.RemovedSpte.SpteValues.g.cs", reviewed);
        Assert.Contains("Variants.ClearDirtyRecordsDirty.MmuPolicy.ClearDirtyGfnRange.g.cs", reviewed);
        Assert.DoesNotContain("Variants.ClearDirtyRecordsDirty.EptSpte.g.cs", reviewed);
        Assert.DoesNotContain("Variants.RemovedSpte.TdpIter.g.cs", reviewed);
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
        // SpecModels.g.cs (the registry) and SpecModelNames.g.cs list every model, so each is generated once, in the base namespace.
        var baseNames = sources.Where(s => !s.HintName.StartsWith("Variants.", StringComparison.Ordinal) && s.HintName is not ("SpecModels.g.cs" or "SpecModelNames.g.cs")).Select(s => s.HintName).ToHashSet();
        var variant = sources.Where(s => s.HintName.StartsWith("Variants.RemovedSpte.", StringComparison.Ordinal)).ToList();
        Assert.Equal(baseNames, variant.Select(s => s.HintName["Variants.RemovedSpte.".Length..]).ToHashSet());
        Assert.All(variant, s => Assert.Contains("namespace SpecKit.Mmu.Variants.RemovedSpte;", s.SourceText.ToString(), StringComparison.Ordinal));
    }
}
