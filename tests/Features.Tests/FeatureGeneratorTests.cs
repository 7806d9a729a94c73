using Microsoft.CodeAnalysis;
using SpecKit.Tests.Features.Support;
using SpecKit.Generators.Features;
using SpecKit.Testing;

namespace SpecKit.Tests.Features;

/// <summary>
/// The feature generator on the sample feature and step definitions: the emitted test class
/// is a snapshot (reviewers read it), it compiles, and a second run is all cached.
/// </summary>
public class FeatureGeneratorTests
{
    private static readonly string SamplesDir = Path.Combine(RepoPaths.Root, "tests", "Features.Tests", "Samples");
    private static readonly string SnapshotDir = Path.Combine(RepoPaths.Root, "tests", "Features.Tests", "Snapshots");

    internal static string SampleSteps => File.ReadAllText(Path.Combine(SamplesDir, "SampleSteps.cs"));

    internal static AdditionalText SampleFeature(string name = "dirty-log.feature") =>
        FeatureDriver.Text("features/samples/" + name, File.ReadAllText(Path.Combine(SamplesDir, name)));

    [Fact]
    public void The_sample_binds_without_diagnostics_and_its_tests_compile()
    {
        var (result, output) = FeatureDriver.Run([SampleFeature()], SampleSteps);
        Assert.Equal("", FeatureDriver.Render(result.Diagnostics));
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, FeatureDriver.Render(errors));
    }

    [Fact]
    public void Emitted_test_class_matches_its_snapshot()
    {
        var (result, _) = FeatureDriver.Run([SampleFeature()], SampleSteps);
        var feature = result.GeneratedSources.Single(s => s.HintName == "Samples_DirtyLog_Feature.g.cs");
        Snapshot.Verify(SnapshotDir, "Samples_DirtyLog_Feature.g", feature.SourceText.ToString(), "cs");
    }

    [Fact]
    public void Step_library_markdown_matches_its_snapshot()
    {
        var (result, _) = FeatureDriver.Run([SampleFeature()], SampleSteps);
        var library = result.GeneratedSources.Single(s => s.HintName == "StepLibrary.g.cs");
        Snapshot.Verify(SnapshotDir, "StepLibrary.g", library.SourceText.ToString(), "cs");
    }

    [Fact]
    public void Steps_carry_line_directives_to_the_feature_file()
    {
        var (result, _) = FeatureDriver.Run([SampleFeature()], SampleSteps);
        var text = result.GeneratedSources.Single(s => s.HintName == "Samples_DirtyLog_Feature.g.cs").SourceText.ToString();
        Assert.Contains("#line 9 \"features/samples/dirty-log.feature\"", text, StringComparison.Ordinal);
        Assert.Contains("[global::Xunit.Trait(\"Category\", \"dirty-log\")]", text, StringComparison.Ordinal);
        Assert.Contains("[global::Xunit.Trait(\"Category\", \"huge\")]", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kvm_scenario_is_one_test_per_backend_named_and_traited_by_it()
    {
        var kvm = FeatureDriver.Text("features/samples/backends.feature", "Feature: Backends\n  @kvm\n  Scenario: One\n    Then nothing is flushed\n  Scenario: Two\n    Then nothing is flushed\n");
        var (result, output) = FeatureDriver.Run([kvm], SampleSteps);
        Assert.Equal("", FeatureDriver.Render(result.Diagnostics));
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, FeatureDriver.Render(errors));
        var text = result.GeneratedSources.Single(s => s.HintName == "Samples_Backends_Feature.g.cs").SourceText.ToString();
        foreach (var backend in new[] { "model", "kernel" })
        {
            Assert.Contains($"[global::SpecKit.Features.BackendFact(\"{backend}\", DisplayName = \"One [{backend}]\")]", text, StringComparison.Ordinal);
            Assert.Contains($"[global::Xunit.Trait(\"Backend\", \"{backend}\")]", text, StringComparison.Ordinal);
            Assert.Contains($"Backend = \"{backend}\"", text, StringComparison.Ordinal);
        }

        Assert.Contains("[global::Xunit.Fact(DisplayName = \"Two\")]", text, StringComparison.Ordinal);
        Assert.Equal(2, text.Split("BackendFact(").Length - 1);
    }

    [Fact]
    public void A_second_run_on_unchanged_input_is_all_cached()
    {
        var compilation = FeatureDriver.Compilation(SampleSteps);
        var driver = FeatureDriver.CreateDriver([SampleFeature()]).RunGenerators(compilation);
        var result = driver.RunGenerators(compilation).GetRunResult().Results.Single();
        foreach (var name in new[] { TrackingNames.Parse, TrackingNames.Bindings, TrackingNames.Bind })
        {
            var outputs = result.TrackedSteps[name].SelectMany(s => s.Outputs).ToList();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {o.Reason}"));
        }
    }

    [Fact]
    public void Editing_one_feature_rebinds_only_that_feature()
    {
        var first = SampleFeature();
        var second = FeatureDriver.Text("features/samples/other.feature", "Feature: Other\n  Scenario: One\n    Then nothing is flushed\n");
        var compilation = FeatureDriver.Compilation(SampleSteps);
        var driver = FeatureDriver.CreateDriver([first, second]).RunGenerators(compilation);
        driver = driver.ReplaceAdditionalText(second, FeatureDriver.Text(second.Path, "Feature: Other\n  Scenario: Two\n    Then nothing is flushed\n"));
        var result = driver.RunGenerators(compilation).GetRunResult().Results.Single();

        var bind = result.TrackedSteps[TrackingNames.Bind].SelectMany(s => s.Outputs).ToList();
        Assert.Equal(2, bind.Count);
        Assert.Single(bind, o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Single(bind, o => o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
        Assert.All(result.TrackedSteps[TrackingNames.Bindings].SelectMany(s => s.Outputs), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
    }
}
