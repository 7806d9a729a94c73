namespace SpecKit.Tests.Features;

/// <summary>
/// The parser runs inside the compiler, where an exception would break the build, so it
/// must turn any text whatsoever into errors. Fixed seeds keep failures reproducible.
/// </summary>
public sealed class GherkinRobustnessTests
{
    private const int Mutations = 2000;

    // Inline sources, so the test means something even without the corpus.
    private static readonly string[] Samples =
    [
        "# language: fr\nFonctionnalité: f\n  Scénario: s\n    Soit a\n",
        "@t\nFeature: f\n  Background:\n    Given b\n  Rule: r\n    Background:\n      Given c\n    @x\n    Scenario Outline: o\n      When <a>\n        \"\"\"json\n        {}\n        \"\"\"\n      Examples:\n        | a |\n        | 1 |\n",
        "Feature: t\n  Scenario: s\n    Given a\n      | a\\|b | c\\\\ | \\n |\n      ```\n      x\n      ```\n",
    ];

    // Lines worth inserting: every kind of token, well-formed or not.
    private static readonly string[] Fragments =
    [
        "Feature: x", "Rule: r", "Background:", "Scenario: s", "Scenario Outline: o", "Examples:", "Given a", "And b", "* c",
        "| a | b |", "| a |", "|", "\\", "\"\"\"", "```", "\"\"\"xml", "@a @b", "@a b", "@", "# comment", "# language: de",
        "# language: xx", "", "   ", "\t", "text", "Feature:", "Examples: \\|", "|\\", "| \\n |",
    ];

    private static readonly string[] Characters = ["|", "\\", "@", "#", ":", "\"", "`", " ", "\t", "\n", "\r", "n", "*", "\u00A0", "😀"];

    [Fact]
    public void Mutated_sources_give_errors_not_exceptions()
    {
        var sources = Samples
            .Concat(GherkinCorpus.Features("good").Concat(GherkinCorpus.Features("bad")).Select(f => File.ReadAllText(GherkinCorpus.PathOf(f))))
            .ToArray();

        var rejected = 0;
        for (var seed = 0; seed < Mutations; seed++)
        {
            var random = new Random(seed);
            var text = sources[random.Next(sources.Length)];
            for (var n = random.Next(1, 4); n > 0; n--)
            {
                text = Mutate(text, random);
            }

            GherkinParseResult result;
            try
            {
                result = GherkinParser.Parse(text);
            }
            catch (Exception ex)
            {
                Assert.Fail($"seed {seed}: {ex}\n--- source ---\n{text}");
                return;
            }

            rejected += result.Success ? 0 : 1;
            Assert.True(result.Success == (result.Document is not null), $"seed {seed}: document and errors disagree");
            Assert.True(result.Errors.Count <= 11, $"seed {seed}: {result.Errors.Count} errors");
            var lastLine = System.Text.RegularExpressions.Regex.Split(text, "\r\n|\r|\n").Length + 1;
            Assert.All(result.Errors, e => Assert.True(e.Line >= 1 && e.Line <= lastLine && e.Column >= 0, $"seed {seed}: {e}"));
        }

        // Both outcomes must be common, or the mutations are not exercising the parser.
        Assert.InRange(rejected, Mutations / 10, Mutations * 9 / 10);
    }

    private static string Mutate(string text, Random random)
    {
        var lines = text.Split('\n').ToList();
        var at = random.Next(lines.Count);
        switch (random.Next(6))
        {
            case 0:
                lines.RemoveAt(at);
                break;
            case 1:
                lines.Insert(at, new string(' ', random.Next(6)) + Fragments[random.Next(Fragments.Length)]);
                break;
            case 2:
                lines.Insert(at, lines[at]);
                break;
            default:
                var line = lines[at];
                var i = random.Next(line.Length + 1);
                lines[at] = random.Next(3) switch
                {
                    0 when line.Length > 0 => line.Remove(Math.Min(i, line.Length - 1), 1),
                    1 when i < line.Length => line.Insert(i, line[i].ToString()),
                    _ => line.Insert(i, Characters[random.Next(Characters.Length)]),
                };
                break;
        }

        return string.Join("\n", lines);
    }
}
