using System.Reflection;
using SpecKit.Features;
using SpecKit.Testing;

namespace SpecKit.Behaviour;

/// <summary>
/// Checks on the suite as a whole: no orphaned snapshots, and a step library that is up to date.
/// They are part of the behaviour run, so that a feature whose steps change docs/steps.md (its
/// first use of a step is the library's example) says so there too, not only in the full run.
/// </summary>
[Trait("Category", "behaviour")]
public class SuiteHygieneTests
{
    private static IEnumerable<ScenarioInfo> AllScenarios() =>
        typeof(SuiteHygieneTests).Assembly.GetTypes()
            .Where(t => t.Namespace == "SpecKit.Features.Generated")
            .Select(t => t.GetField("Scenarios", BindingFlags.Public | BindingFlags.Static)?.GetValue(null))
            .OfType<ScenarioInfo[]>()
            .SelectMany(s => s);

    [Fact]
    public void Every_verified_snapshot_belongs_to_a_scenario()
    {
        var owners = AllScenarios().Select(s => ScenarioContext.SnapshotName(s, null)).ToList();
        var orphans = Directory.GetFiles(Path.Combine(RepoPaths.Root, "features"), "*.verified.txt", SearchOption.AllDirectories)
            .Select(Path.GetFileName)
            .Select(f => f![..^".verified.txt".Length])
            .Where(name => !owners.Any(owner => name == owner || name.StartsWith(owner + ".", StringComparison.Ordinal)))
            .ToList();
        Assert.True(orphans.Count == 0, "Snapshots that no scenario claims (renamed or deleted scenarios?): " + string.Join(", ", orphans));
    }

    [Fact]
    public void Docs_steps_md_is_generated_from_the_bindings()
    {
        var path = Path.Combine(RepoPaths.Root, "docs", "steps.md");
        var expected = Snapshot.Normalize(SpecKit.Features.Generated.StepLibrary.Markdown);
        var actual = File.Exists(path) ? Snapshot.Normalize(File.ReadAllText(path)) : "";
        if (actual == expected)
        {
            return;
        }

        if (Snapshot.AcceptMode)
        {
            File.WriteAllText(path, expected, new System.Text.UTF8Encoding(false));
            return;
        }

        Assert.Fail("docs/steps.md is out of date with the step definitions; run SPECKIT_ACCEPT=1 dotnet test to regenerate it.\n"
            + Snapshot.UnifiedDiff(actual, expected, "docs/steps.md", "generated"));
    }
}
