using SpecKit.Tests.Features.Support;
using SpecKit.Testing;

namespace SpecKit.Tests.Features;

/// <summary>
/// The bad-feature corpus: each file in BadFeatures/ names the diagnostic it must produce on
/// its first line (<c># expect: FEATnnn</c>); its diagnostics are a snapshot beside it. Every
/// one is bound against the sample step definitions and must point into the feature file.
/// </summary>
public class BadFeatureTests
{
    private static readonly string Dir = Path.Combine(RepoPaths.Root, "tests", "Features.Tests", "BadFeatures");

    private static List<string> FileNames() =>
        Directory.GetFiles(Dir, "*.feature").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();

    public static TheoryData<string> Files() => new(FileNames());

    [Theory]
    [MemberData(nameof(Files))]
    public void Bad_feature_reports_its_diagnostic_at_the_feature_line(string name)
    {
        var text = File.ReadAllText(Path.Combine(Dir, name));
        var expected = text.Split('\n')[0].Replace("# expect:", "", StringComparison.Ordinal).Trim();
        var path = "features/bad/" + name;

        var (result, _) = FeatureDriver.Run([FeatureDriver.Text(path, text)], FeatureGeneratorTests.SampleSteps);

        Assert.Null(result.Exception);
        Assert.Contains(result.Diagnostics, d => d.Id == expected);
        Assert.All(result.Diagnostics, d => Assert.Equal(path, d.Location.GetLineSpan().Path));
        Snapshot.Verify(Dir, Path.GetFileNameWithoutExtension(name), FeatureDriver.Render(result.Diagnostics));
    }

    [Fact]
    public void Every_feature_diagnostic_id_is_exercised_by_the_corpus()
    {
        var expected = FileNames().Select(n => File.ReadAllText(Path.Combine(Dir, n)).Split('\n')[0]).ToList();
        var ids = typeof(SpecKit.Generators.Features.FeatureGenerator).Assembly.GetType("SpecKit.Generators.Features.Diagnostics")!
            .GetFields().Where(f => f.FieldType == typeof(Microsoft.CodeAnalysis.DiagnosticDescriptor))
            .Select(f => ((Microsoft.CodeAnalysis.DiagnosticDescriptor)f.GetValue(null)!).Id)
            // binding errors: BindingErrorTests; FEAT014 takes two files: FeatureFileTests and the real build
            .Where(id => id is not "FEAT099" and not "FEAT010" and not "FEAT011" and not "FEAT012" and not "FEAT014");
        Assert.All(ids, id => Assert.Contains(expected, line => line.Contains(id, StringComparison.Ordinal)));
        Assert.Empty(Snapshot.Unclaimed(Dir, FileNames().Select(Path.GetFileNameWithoutExtension)!, "txt"));
    }
}
