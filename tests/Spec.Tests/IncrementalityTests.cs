using Microsoft.CodeAnalysis;
using SpecKit.Generators.Spec;
using SpecKit.Spec.Tests.Support;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The generator is incremental: an unchanged spec costs nothing on the next keystroke, and
/// editing one file regenerates only the code that depends on it.
/// </summary>
public class IncrementalityTests
{
    [Fact]
    public void A_second_run_on_unchanged_input_is_all_cached()
    {
        var files = SpecDriver.RealSpec();
        var compilation = SpecDriver.EmptyCompilation();
        var driver = SpecDriver.CreateDriver(files).RunGenerators(compilation);
        var result = driver.RunGenerators(compilation).GetRunResult().Results.Single();

        foreach (var name in new[] { TrackingNames.Parse, TrackingNames.Resolve, TrackingNames.Units, TrackingNames.Diagnostics })
        {
            var outputs = result.TrackedSteps[name].SelectMany(step => step.Outputs).ToList();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {o.Reason}"));
        }

        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Editing_one_layout_regenerates_only_that_layout()
    {
        var files = SpecDriver.RealSpec().ToList();
        var texts = files.Select(SpecDriver.ToText).ToList();
        var compilation = SpecDriver.EmptyCompilation();
        var driver = SpecDriver.CreateDriver(texts).RunGenerators(compilation);

        var index = files.FindIndex(f => f.Path.EndsWith("mmio-spte.layout", StringComparison.Ordinal));
        var mmio = files[index];
        var edited = mmio with { Text = mmio.Text.Replace("always clear, an MMIO SPTE", "never set, an MMIO SPTE", StringComparison.Ordinal) };
        Assert.NotEqual(mmio.Text, edited.Text);
        driver = driver.ReplaceAdditionalText(texts[index], SpecDriver.ToText(edited));
        var result = driver.RunGenerators(compilation).GetRunResult().Results.Single();

        var parse = result.TrackedSteps[TrackingNames.Parse].SelectMany(s => s.Outputs).ToList();
        Assert.Single(parse, o => o.Reason == IncrementalStepRunReason.Modified);

        var units = result.TrackedSteps[TrackingNames.Units].SelectMany(s => s.Outputs).ToList();
        var modified = units.Where(o => o.Reason is IncrementalStepRunReason.Modified or IncrementalStepRunReason.New).Select(o => Hint(o.Value)).Order(StringComparer.Ordinal).ToList();
        // The layout is regenerated in the base model and in every variant model, and nothing else is.
        var expected = units.Select(o => Hint(o.Value)).Where(h => h == "MmioSpte.g.cs" || h.EndsWith(".MmioSpte.g.cs", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.True(expected.Count >= 2);
        Assert.Equal(expected, modified);
        Assert.All(units.Where(o => !modified.Contains(Hint(o.Value))), o => Assert.Equal(IncrementalStepRunReason.Unchanged, o.Reason));
    }

    private static string Hint(object unit) => (string)unit.GetType().GetProperty("HintName")!.GetValue(unit)!;
}
