using SpecKit.Spec.Tests.Support;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The malformed-spec corpus: each file in BadSpecs/ names the diagnostic it must produce on
/// its first line (<c># expect: SPECnnn</c>), and its full diagnostics are a snapshot beside it.
/// Each is compiled together with the real spec, so the errors must point into the bad file
/// and nowhere else, and the generator must not throw.
/// </summary>
public class BadSpecTests
{
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "Spec.Tests", "BadSpecs");

    private static List<string> FileNames() =>
        Directory.GetFiles(Dir)
            .Where(f => !f.Contains(".verified.", StringComparison.Ordinal) && !f.Contains(".received.", StringComparison.Ordinal))
            .Select(f => Path.GetFileName(f))
            .Order(StringComparer.Ordinal)
            .ToList();

    public static TheoryData<string> Files() => new(FileNames());

    [Theory]
    [MemberData(nameof(Files))]
    public void Bad_spec_reports_its_diagnostic_in_its_own_file(string name)
    {
        var path = Path.Combine(Dir, name);
        var text = File.ReadAllText(path);
        var expected = text.Split('\n')[0].Replace("# expect:", "", StringComparison.Ordinal).Trim();
        var relative = RepoPaths.Relative(path);

        var result = SpecDriver.Run(SpecDriver.RealSpec().Append(new SpecFile(relative, text)));

        Assert.Null(result.Exception);
        Assert.NotEmpty(result.Diagnostics);
        Assert.Contains(result.Diagnostics, d => d.Id == expected);
        Assert.All(result.Diagnostics, d => Assert.Equal(relative, d.Location.GetLineSpan().Path));
        Snapshot.Verify(Dir, Path.GetFileNameWithoutExtension(name), SpecDriver.Render(result.Diagnostics));
    }

    [Fact]
    public void The_corpus_covers_at_least_twenty_malformed_specs_and_every_snapshot_has_a_spec() 
    {
        var names = FileNames();
        Assert.True(names.Count >= 20, $"only {names.Count} malformed specs");
        Assert.Empty(Snapshot.Unclaimed(Dir, names.Select(Path.GetFileNameWithoutExtension).Append("spec041-missing-operation").Append("spec043-missing-mask").Append("spec042-misspelt-mask")!, "txt"));
    }

    [Fact]
    public void Every_spec_diagnostic_id_is_exercised_by_the_corpus()
    {
        var expected = FileNames().Select(name => File.ReadAllText(Path.Combine(Dir, name)).Split('\n')[0]).ToList();
        var ids = typeof(SpecKit.Generators.Spec.SpecGenerator).Assembly.GetType("SpecKit.Generators.Spec.Diagnostics")!
            .GetFields().Where(f => f.FieldType == typeof(Microsoft.CodeAnalysis.DiagnosticDescriptor))
            .Select(f => ((Microsoft.CodeAnalysis.DiagnosticDescriptor)f.GetValue(null)!).Id)
            .Where(id => id != "SPEC099") // internal errors are covered by the fuzz test
            .Where(id => id != "SPEC041") // needs an operation taken out of the real spec: A_spec_that_leaves_out_an_operation_the_runtime_runs_is_refused_at_its_policy_file
            .Where(id => id != "SPEC043"); // needs a mask taken out of the real spec: A_format_that_leaves_out_a_mask_the_runtime_reads_is_refused_at_the_format
        Assert.All(ids, id => Assert.Contains(expected, line => line.Contains(id, StringComparison.Ordinal)));
    }

    [Fact]
    public void A_spec_that_leaves_out_an_operation_the_runtime_runs_is_refused_at_its_policy_file()
    {
        var spec = SpecDriver.RealSpec().Select(f => f.Path.EndsWith("tdp-range-ops.policy", StringComparison.Ordinal) ? f with { Text = WithoutOperation(f.Text, "RecoverHugePages") } : f);

        var result = SpecDriver.Run(spec);

        Assert.Null(result.Exception);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("SPEC041", diagnostic.Id);
        Snapshot.Verify(Dir, "spec041-missing-operation", SpecDriver.Render(result.Diagnostics));
    }

    [Fact]
    public void A_format_that_leaves_out_a_mask_the_runtime_reads_is_refused_at_the_format()
    {
        var spec = SpecDriver.RealSpec().Select(f => f.Path.EndsWith("spte-masks.layout", StringComparison.Ordinal)
            ? f with { Text = string.Join('\n', f.Text.Split('\n').Where(line => !line.TrimStart().StartsWith("Mask shadow_mmu_writable_mask", StringComparison.Ordinal) || !f.Text[..f.Text.IndexOf(line, StringComparison.Ordinal)].Contains("Format Legacy", StringComparison.Ordinal))) }
            : f);

        var result = SpecDriver.Run(spec);

        Assert.Null(result.Exception);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("SPEC043", diagnostic.Id);
        Snapshot.Verify(Dir, "spec043-missing-mask", SpecDriver.Render(result.Diagnostics));
    }

    [Fact]
    public void A_misspelt_mask_is_named_at_its_line_and_the_mask_it_should_have_been_is_missing()
    {
        var spec = SpecDriver.RealSpec().Select(f => f.Path.EndsWith("spte-masks.layout", StringComparison.Ordinal)
            ? f with { Text = f.Text.Replace("Mask shadow_dirty_mask ", "Mask shadow_dirt_mask  ", StringComparison.Ordinal) }
            : f);

        var result = SpecDriver.Run(spec);

        Assert.Null(result.Exception);
        Assert.Equal(["SPEC042", "SPEC042", "SPEC043", "SPEC043"], result.Diagnostics.Select(d => d.Id).Order());
        Snapshot.Verify(Dir, "spec042-misspelt-mask", SpecDriver.Render(result.Diagnostics));
    }

    private static string WithoutOperation(string policy, string name)
    {
        var start = policy.IndexOf("Operation " + name + " ", StringComparison.Ordinal);
        var end = policy.IndexOf("EndOperation", start, StringComparison.Ordinal) + "EndOperation".Length;
        Assert.True(start >= 0);
        return policy[..start] + policy[end..];
    }
}
