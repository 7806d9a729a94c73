using SpecKit.Tests.Features.Support;

namespace SpecKit.Tests.Features;

/// <summary>
/// Names the generator derives from feature file paths are unique, or the clash is a FEAT014
/// at each file: two files whose names give one test class used to crash the generator
/// (CS8785, a duplicate hint name). It takes two files, so it is not in the one-file corpus.
/// </summary>
public class FeatureFileNameTests
{
    private const string Feature = "Feature: F\n  Scenario: S\n    Given a VM with 1 vCPU\n";

    [Theory]
    [InlineData("features/x/a-b.feature", "features/x/a_b.feature", "X_AB_Feature")]
    [InlineData("features/x/Zap.feature", "features/x/zap.feature", "X_Zap_Feature")]
    public void Two_files_that_give_one_class_name_are_each_a_diagnostic_and_the_generator_does_not_fail(string first, string second, string className)
    {
        var (result, _) = FeatureDriver.Run([FeatureDriver.Text(first, Feature), FeatureDriver.Text(second, Feature)], FeatureGeneratorTests.SampleSteps);

        Assert.Null(result.Exception);
        Assert.Empty(result.GeneratedSources.Where(s => s.HintName.StartsWith("X_", StringComparison.Ordinal)));
        var clashes = result.Diagnostics.Where(d => d.Id == "FEAT014").Select(d => (d.Location.GetLineSpan().Path, d.GetMessage(System.Globalization.CultureInfo.InvariantCulture))).OrderBy(d => d.Path, StringComparer.Ordinal).ToList();
        Assert.Equal(
            [
                (first, $"{first} and {second} both become the test class {className}: rename one of them"),
                (second, $"{second} and {first} both become the test class {className}: rename one of them"),
            ],
            clashes);
    }
}
