using SpecKit.Mmu;
using Xunit.Abstractions;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// Each RaceKind past the first five is live: under a known-bad model (a spec variant, or a Lock
/// mutant of the spec) the explorer, drawing that race alone (<see cref="ExploreOptions.Race"/>),
/// finds the breach the race exposes, with that race among the shrunk counterexample's steps, on a
/// case the base model runs clean; the printed counterexample fails the same way as a feature.
/// The base stays clean under the whole vocabulary (<see cref="BaseModelTests"/>), and under each
/// race alone over the same budget.
/// </summary>
public class RaceTests(ITestOutputHelper output)
{
    public static TheoryData<RaceKind> Searched => new(Counterexamples.RaceSearches.Select(s => s.Kind));

    [Theory]
    [MemberData(nameof(Searched))]
    public void Under_a_known_bad_model_the_explorer_finds_the_breach_through_the_race(RaceKind kind)
    {
        var search = Counterexamples.RaceSearches.Single(s => s.Kind == kind);
        var (result, took) = Counterexamples.OfRace(kind);
        output.WriteLine($"{kind} under {search.Model}: {result.Figures}; {took.TotalSeconds:F1} s with shrinking");
        var found = result.Found ?? throw new Xunit.Sdk.XunitException($"no counterexample under {search.Model} through {kind} in {result.Figures}");
        output.WriteLine(found.Feature);
        Assert.Equal(search.Rule, found.Failure.Rule);
        Assert.Contains(found.Run.Steps, st => st.Text.Contains(search.Step, StringComparison.Ordinal) && st.Text.Contains(", in the schedule ", StringComparison.Ordinal));
        Assert.Null(Runner.Run(found.Case, SpecModels.Base).Failure);
    }

    [Theory]
    [MemberData(nameof(Searched))]
    public void The_base_model_is_clean_under_the_race_alone(RaceKind kind)
    {
        var search = Counterexamples.RaceSearches.Single(s => s.Kind == kind);
        var result = Explorer.Explore(Counterexamples.RaceOptions(search) with { Model = SpecModels.Base, Sequences = Counterexamples.RaceBaseSequences });
        output.WriteLine($"{kind} under base: {result.Figures}");
        Assert.True(result.Found is null, result.Found is { } f ? $"{f.Failure}\n{f.Feature}" : "");
        Assert.Equal(Counterexamples.RaceBaseSequences, result.Figures.Sequences);
    }

    [Fact]
    public void Every_race_counterexample_printed_fails_as_a_feature_with_the_checker_s_message()
    {
        var results = Counterexamples.Ran.Value;
        foreach (var search in Counterexamples.RaceSearches)
        {
            var found = Counterexamples.OfRace(search.Kind).Result.Found ?? throw new Xunit.Sdk.XunitException($"no counterexample through {search.Kind}");
            var path = Counterexamples.RacePathOf(search.Kind);
            var failure = results.TryGetValue(path, out var f) ? f : throw new Xunit.Sdk.XunitException($"{path} produced no scenario");
            output.WriteLine($"{path}: {failure}");
            Assert.True(failure is not null, $"{path} passed; the explorer found: {found.Failure}\n{found.Feature}");
            Assert.True(
                failure.Contains(found.Failure.Message, StringComparison.Ordinal),
                $"{path} fails otherwise than the explorer's run did.\nThe explorer: {found.Failure}\n{found.Feature}\nThe scenario: {failure}");
        }
    }
}
