using Microsoft.CodeAnalysis;
using SpecKit.Tests.Features.Support;

namespace SpecKit.Tests.Features;

/// <summary>
/// The step definition FEAT001 proposes is meant to be pasted as it is. Every proposal the
/// bad-feature corpus produces is pasted into a step class and compiled, and the feature is
/// bound again: the pasted code must compile and must bind the step it was proposed for.
/// </summary>
public class ProposedStepTests
{
    private static readonly string Dir = Path.Combine(SpecKit.Testing.RepoPaths.Root, "tests", "Features.Tests", "BadFeatures");

    public static TheoryData<string> FeaturesWithUndefinedSteps() =>
        new(Directory.GetFiles(Dir, "*.feature").Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Where(name => Proposals(name!).Count > 0)!);

    [Theory]
    [MemberData(nameof(FeaturesWithUndefinedSteps))]
    public void Every_proposal_compiles_as_pasted_and_binds_its_step(string name)
    {
        var proposals = Proposals(name);
        var pasted = "using SpecKit.Features;\nnamespace Pasted;\n"
            + string.Concat(proposals.Select((p, i) => $"[Binding]\npublic sealed class PastedSteps{i}\n{{\n    {p.Snippet}\n}}\n"));

        var (result, output) = FeatureDriver.Run([Feature(name)], FeatureGeneratorTests.SampleSteps, pasted);

        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "the pasted proposals do not compile:\n" + FeatureDriver.Render(errors) + "\n" + pasted);
        var stillUndefined = result.Diagnostics.Where(d => d.Id is "FEAT001" or "FEAT002").ToList();
        Assert.True(stillUndefined.Count == 0, "the pasted proposals do not bind their steps:\n" + FeatureDriver.Render(stillUndefined));
    }

    private static AdditionalText Feature(string name) => FeatureDriver.Text("features/bad/" + name, File.ReadAllText(Path.Combine(Dir, name)));

    private static List<(int Line, string Snippet)> Proposals(string name)
    {
        var (result, _) = FeatureDriver.Run([Feature(name)], FeatureGeneratorTests.SampleSteps);
        const string Marker = "Add a step definition: ";
        return result.Diagnostics
            .Where(d => d.Id == "FEAT001")
            .Select(d => (d.Location.GetLineSpan().StartLinePosition.Line + 1, d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)))
            .Select(d => (d.Item1, d.Item2[(d.Item2.IndexOf(Marker, StringComparison.Ordinal) + Marker.Length)..]))
            .ToList();
    }
}
