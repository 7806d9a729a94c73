namespace SpecKit.Tests.Features;

/// <summary>The parser on small inline examples, one construct at a time.</summary>
public sealed class GherkinParserTests
{
    private static GherkinDocument ParseValid(string text)
    {
        var result = GherkinParser.Parse(text);
        Assert.True(result.Success, string.Join("\n", result.Errors));
        return result.Document!;
    }

    private static Feature ParseFeature(string text) => ParseValid(text).Feature!;

    [Fact]
    public void Rule_with_its_own_background()
    {
        var feature = ParseFeature("""
            Feature: Rules
              Background:
                Given feature setup

              Rule: First rule
                The rule's description

                Background: rule setup
                  Given rule setup
                Example: one
                  When it runs
                  Then it passes
              Rule: Second rule
                Scenario: two
                  * anything
            """);

        Assert.Collection(
            feature.Children,
            child => Assert.Equal("feature setup", Assert.Single(Assert.IsType<Background>(child).Steps).Text),
            child =>
            {
                var rule = Assert.IsType<Rule>(child);
                Assert.Equal(("Rule", "First rule", "    The rule's description"), (rule.Keyword, rule.Name, rule.Description));
                Assert.Equal(new Location(5, 3), rule.Location);
                var background = Assert.IsType<Background>(rule.Children[0]);
                Assert.Equal("rule setup", background.Name);
                var scenario = Assert.IsType<Scenario>(rule.Children[1]);
                Assert.Equal(("Example", "one"), (scenario.Keyword, scenario.Name));
                Assert.Equal(
                    [("When ", StepKeywordType.Action, "it runs"), ("Then ", StepKeywordType.Outcome, "it passes")],
                    scenario.Steps.Select(s => (s.Keyword, s.KeywordType, s.Text)));
            },
            child =>
            {
                var rule = Assert.IsType<Rule>(child);
                var step = Assert.Single(Assert.IsType<Scenario>(Assert.Single(rule.Children)).Steps);
                Assert.Equal(("* ", StepKeywordType.Unknown), (step.Keyword, step.KeywordType));
            });
    }

    [Fact]
    public void Outline_with_tagged_examples()
    {
        var feature = ParseFeature("""
            Feature: Outlines
              @outline
              Scenario Outline: eating <eat>
                Given there are <start> cucumbers
                When I eat <eat>

                @fast @smoke # not a tag
                Examples: small
                  | start | eat |
                  |    12 |   5 |
                  |    20 |   5 |

                Scenarios:
                  | start | eat |
            """);

        var outline = Assert.IsType<Scenario>(Assert.Single(feature.Children));
        Assert.Equal(("Scenario Outline", "eating <eat>"), (outline.Keyword, outline.Name));
        Assert.Equal("@outline", Assert.Single(outline.Tags).Name);
        Assert.Equal(2, outline.Examples.Count);

        var small = outline.Examples[0];
        Assert.Equal(("Examples", "small"), (small.Keyword, small.Name));
        Assert.Equal(
            [new Tag(new Location(7, 5), "@fast"), new Tag(new Location(7, 11), "@smoke")],
            small.Tags);
        Assert.Equal(["start", "eat"], small.TableHeader!.Cells.Select(c => c.Value));
        Assert.Equal([["12", "5"], ["20", "5"]], small.TableBody.Select(r => r.Cells.Select(c => c.Value)));
        Assert.Equal(new Location(10, 12), small.TableBody[0].Cells[0].Location);

        var empty = outline.Examples[1];
        Assert.Equal("Scenarios", empty.Keyword);
        Assert.Empty(empty.Tags);
        Assert.Empty(empty.TableBody);
    }

    [Fact]
    public void Data_table_cells_are_unescaped_and_trimmed()
    {
        var feature = ParseFeature("""
            Feature: Tables
              Scenario: escapes
                Given a table
                  | a\|b | c\\d | e\nf | \x |    |
            """);

        var table = Assert.IsType<Scenario>(Assert.Single(feature.Children)).Steps[0].DataTable!;
        var row = Assert.Single(table.Rows);
        Assert.Equal(["a|b", "c\\d", "e\nf", "\\x", ""], row.Cells.Select(c => c.Value));
        Assert.Equal(new Location(4, 7), table.Location);
        // An empty cell is where the official parser puts it: at the end of its whitespace.
        Assert.Equal([9, 16, 23, 30, 38], row.Cells.Select(c => c.Location.Column));
    }

    [Fact]
    public void Doc_strings_keep_relative_indentation_and_media_type()
    {
        var feature = ParseFeature(""""
            Feature: Doc strings
              Scenario: both delimiters
                Given a json document
                  ```json
                  {
                    "a": "\`\`\`"
                  }
                  ```
                And a text
                  """
                  # not a comment
                  \"\"\"
                  """
            """");

        var steps = Assert.IsType<Scenario>(Assert.Single(feature.Children)).Steps;
        Assert.Equal(new DocString(new Location(4, 7), "json", "{\n  \"a\": \"```\"\n}", "```"), steps[0].DocString);
        Assert.Equal(new DocString(new Location(10, 7), null, "# not a comment\n\"\"\"", "\"\"\""), steps[1].DocString);
        Assert.Null(steps[1].DataTable);
    }

    [Fact]
    public void Step_with_a_table_and_a_doc_string_but_not_two_of_either()
    {
        var feature = ParseFeature(""""
            Feature: Both arguments
              Scenario: s
                Given a table then a doc string
                  | a |
                  """
                  text
                  """
                When a doc string then a table
                  ```
                  text
                  ```
                  | b |
            """");

        var steps = Assert.IsType<Scenario>(Assert.Single(feature.Children)).Steps;
        Assert.Equal(("a", "text"), (steps[0].DataTable!.Rows[0].Cells[0].Value, steps[0].DocString!.Content));
        Assert.Equal(("b", "```"), (steps[1].DataTable!.Rows[0].Cells[0].Value, steps[1].DocString!.Delimiter));

        var twice = GherkinParser.Parse("Feature: f\n  Scenario: s\n    Given x\n      | a |\n      \"\"\"\n      \"\"\"\n      | b |\n");
        Assert.Equal(
            "(7:7): expected: #EOF, #StepLine, #TagLine, #ExamplesLine, #ScenarioLine, #RuleLine, #Comment, #Empty, got '| b |'",
            Assert.Single(twice.Errors).ToString());
    }

    [Fact]
    public void French_feature()
    {
        var document = ParseValid("""
            # language: fr
            Fonctionnalité: Addition
              Plan du scénario: ajouter
                Soit une calculatrice
                Quand j'ajoute <a>
                Alors le résultat est <b>
                Et c'est fini
                Mais rien d'autre

                Exemples:
                  | a | b |
                  | 1 | 1 |
            """);

        var feature = document.Feature!;
        Assert.Equal(("fr", "Fonctionnalité", "Addition"), (feature.Language, feature.Keyword, feature.Name));
        var outline = Assert.IsType<Scenario>(Assert.Single(feature.Children));
        Assert.Equal("Plan du scénario", outline.Keyword);
        Assert.Equal(
            [StepKeywordType.Context, StepKeywordType.Action, StepKeywordType.Outcome, StepKeywordType.Conjunction, StepKeywordType.Conjunction],
            outline.Steps.Select(s => s.KeywordType));
        Assert.Equal("Exemples", Assert.Single(outline.Examples).Keyword);
        Assert.Empty(document.Comments); // the language header is not a comment
    }

    [Fact]
    public void Descriptions_and_comments()
    {
        var document = ParseValid("""
            # first
            Feature: Described

              First line
              # a comment, not part of it

              Third line

              Scenario: s
                # just a comment
                Given x
            """);

        Assert.Equal("  First line\n\n  Third line", document.Feature!.Description);
        Assert.Equal("", Assert.IsType<Scenario>(Assert.Single(document.Feature.Children)).Description);
        Assert.Equal(
            [new Comment(new Location(1, 1), "# first"), new Comment(new Location(5, 1), "  # a comment, not part of it"), new Comment(new Location(10, 1), "    # just a comment")],
            document.Comments);
    }

    [Fact]
    public void Errors_are_values_with_locations_in_the_reference_format()
    {
        var result = GherkinParser.Parse("""
            Feature: Broken
              Scenario: s
                Given x
                  | a | b |
                  | c |
            nonsense
              @bad tag
              Scenario: t
            """);

        Assert.Null(result.Document);
        Assert.Equal(
            [
                "(6:1): expected: #EOF, #TableRow, #DocStringSeparator, #StepLine, #TagLine, #ExamplesLine, #ScenarioLine, #RuleLine, #Comment, #Empty, got 'nonsense'",
                "(5:7): inconsistent cell count within the table",
                "(7:3): A tag may not contain whitespace",
            ],
            result.Errors.Select(e => e.ToString()));
        Assert.Equal(new GherkinError("A tag may not contain whitespace", 7, 3), result.Errors[2]);
    }

    [Fact]
    public void Parsing_gives_up_after_eleven_errors()
    {
        var result = GherkinParser.Parse(string.Join("\n", Enumerable.Range(1, 30).Select(i => $"junk {i}")));
        Assert.Equal(11, result.Errors.Count);
        Assert.Equal("(11:1): expected: #EOF, #Language, #TagLine, #FeatureLine, #Comment, #Empty, got 'junk 11'", result.Errors[^1].ToString());
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("# only a comment\n\n", true)]
    [InlineData("Feature:", true)]
    [InlineData("Feature: x\n  Scenario: y\n    Given z\n      \"\"\"\n", false)]
    [InlineData("# language: xx\nFeature: x", false)]
    [InlineData("@tag\n", false)]
    public void Edge_cases_never_throw(string text, bool valid)
    {
        var result = GherkinParser.Parse(text);
        Assert.Equal(valid, result.Success);
        Assert.Equal(valid, result.Document is not null);
    }

    [Fact]
    public void Results_are_equatable_values()
    {
        const string text = "@t\nFeature: f\n  Scenario: s\n    Given a\n      | x |\n";
        Assert.Equal(GherkinParser.Parse(text), GherkinParser.Parse(text));
        Assert.NotEqual(GherkinParser.Parse(text), GherkinParser.Parse(text.Replace("| x |", "| y |")));
    }

    [Fact]
    public void Every_dialect_is_embedded()
    {
        Assert.True(GherkinDialects.Languages.Count() >= 80);
        Assert.Equal("Feature", GherkinDialects.Default.FeatureKeywords[0]);
        Assert.Equal("Fonctionnalité", GherkinDialects.TryGet("fr")!.FeatureKeywords[0]);
        Assert.Null(GherkinDialects.TryGet("no-such"));
    }
}
