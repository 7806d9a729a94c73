using Xunit.Abstractions;

namespace SpecKit.Explorer.Tests;

/// <summary>Every variant whose feature shows a breach is caught by the explorer alone, shrunk, and printed as a feature that fails the same way.</summary>
public class VariantTests(ITestOutputHelper output)
{
    public static TheoryData<string> Breaching => new(BreachSearch.Breaches.Select(b => b.Model));

    [Theory]
    [MemberData(nameof(Breaching))]
    public void The_explorer_alone_finds_the_breach_and_shrinks_it_to_at_most_12_steps(string model)
    {
        var (_, _, rule) = BreachSearch.Breaches.Single(b => b.Model == model);
        var (result, took) = Counterexamples.Of(model);
        output.WriteLine($"{model}: {result.Figures}; {took.TotalSeconds:F1} s with shrinking (BreachSearchBench measures it)");
        var found = result.Found ?? throw new Xunit.Sdk.XunitException($"no counterexample under {model} in {result.Figures}");
        output.WriteLine(found.Feature);
        // The checker's rule, whichever the explorer met first (the feature's, or another the variant
        // breaks: ClearDirtyRecordsDirty's extra dirtying outside a vCPU is also "dirty ring without
        // a vCPU" in a ring VM), on a case the base model runs clean.
        output.WriteLine($"the feature's rule: {rule}; found: {found.Failure.Rule}");
        Assert.False(found.Failure.IsException, found.Failure.ToString());
        Assert.Null(Runner.Run(found.Case, SpecKit.Mmu.SpecModels.Base).Failure);
        Assert.True(found.Run.Steps.Count <= 12, $"shrunk to {found.Run.Steps.Count} steps (from {found.StepsBeforeShrinking})");
    }

    /// <summary>
    /// The same failure shrinks to the same case on another run (here another thread, later, with
    /// other work before it): the shrunk case is a function of the run's seed alone.
    /// </summary>
    [Theory]
    [InlineData("ClearDirtyRecordsDirty")]
    [InlineData("ZapYieldWithoutFlush")]
    public async Task Shrinking_is_reproducible_from_the_run_s_seed(string model)
    {
        var found = Counterexamples.Of(model).Result.Found ?? throw new Xunit.Sdk.XunitException($"no counterexample under {model}");
        var options = BreachSearch.Options(model);
        var gen = OperationGen.Cases(options.Kind, options.MaxStepsOf(found.FoundAt));
        var (original, caseSeed) = Explorer.Generate(gen, options.Seed, found.FoundAt);
        var failure = Runner.Run(original, options.Model).Failure ?? throw new Xunit.Sdk.XunitException($"case {caseSeed} no longer fails");
        var again = await Task.Run(() => Explorer.Shrink(gen, caseSeed, options.Model, failure, options.ShrinkTries, options.ShrinkCap));
        output.WriteLine($"{model}: case {caseSeed} ({original.Ops.Length} operations) shrinks to {again.Seed} ({again.Run.Steps.Count} steps)");
        Assert.False(found.ShrinkCapped || again.Capped, "shrinking hit its time cap");
        Assert.Equal(found.CaseSeed, again.Seed);
        Assert.Equal(found.Run.Steps.Select(st => st.ToString()), again.Run.Steps.Select(st => st.ToString()));
    }

    [Fact]
    public void Every_counterexample_printed_binds_to_the_suite_s_steps_and_fails_with_the_checker_s_message()
    {
        var printed = BreachSearch.Breaches
            .Select(b => (b.Model, Found: Counterexamples.Of(b.Model).Result.Found))
            .Where(c => c.Found is not null)
            .ToDictionary(c => Counterexamples.PathOf(c.Model), c => c.Found!);
        Assert.NotEmpty(printed);
        var results = Counterexamples.Ran.Value;
        foreach (var (path, found) in printed)
        {
            var failure = results.TryGetValue(path, out var f) ? f : throw new Xunit.Sdk.XunitException($"{path} produced no scenario");
            output.WriteLine($"{path}: {failure}");
            Assert.True(failure is not null, $"{path} passed; the explorer found: {found.Failure}\n{found.Feature}");
            Assert.True(
                failure.Contains(found.Failure.Message, StringComparison.Ordinal),
                $"{path} fails otherwise than the explorer's run did.\nThe explorer: {found.Failure}\n{found.Feature}\nThe scenario: {failure}");
        }
    }

    [Fact]
    public void A_clean_run_printed_passes_as_a_feature_step_for_step()
    {
        var runs = Counterexamples.CleanRuns.Value;
        // Every race of the two cases printed a step (none was refused as not applying), and they race every RaceKind.
        var races = new[] { Counterexamples.Races, Counterexamples.RingRaces }.SelectMany(c => c.Ops.OfType<RacedFaults>()).ToList();
        Assert.Equal(Enum.GetValues<RaceKind>().Order(), races.Select(r => r.Kind).Distinct().Order());
        Assert.Equal(races.Count, new[] { Counterexamples.RacesPath, Counterexamples.RingRacesPath }.Sum(p => runs[p].Steps.Count(st => st.Text.Contains(", in the schedule ", StringComparison.Ordinal))));
        Assert.All(runs.Values, r => Assert.Null(r.Failure));
        var results = Counterexamples.Ran.Value;
        foreach (var (path, run) in runs)
        {
            var failure = results.TryGetValue(path, out var f) ? f : throw new Xunit.Sdk.XunitException($"{path} produced no scenario");
            Assert.True(failure is null, $"{path} ({run.Steps.Count} steps) fails as a feature though the explorer's run was clean:\n{FeaturePrinter.Clean(run, path)}\n{failure}");
        }
    }
}
