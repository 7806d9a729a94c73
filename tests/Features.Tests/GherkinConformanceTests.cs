using System.Text.Json.Nodes;

namespace SpecKit.Tests.Features;

/// <summary>
/// The parser against the official Gherkin corpus: every good file must give the corpus's
/// AST, every bad file the corpus's errors (messages, lines and columns). One case per file.
/// </summary>
public sealed class GherkinConformanceTests
{
    public static TheoryData<string> GoodFiles => GherkinCorpus.Cases("good");

    public static TheoryData<string> BadFiles => GherkinCorpus.Cases("bad");

    [CorpusTheory]
    [MemberData(nameof(GoodFiles))]
    public void Good_file_parses_to_the_reference_ast(string file)
    {
        var path = GherkinCorpus.PathOf(file);
        var result = GherkinParser.Parse(File.ReadAllText(path));

        Assert.True(result.Success, $"{file}: unexpected errors:\n{string.Join("\n", result.Errors)}");
        var expected = JsonNode.Parse(File.ReadLines(path + ".ast.ndjson").Single())!["gherkinDocument"]!;
        var difference = GherkinJson.FirstDifference(GherkinJson.Expected(expected), GherkinJson.Document(result.Document!));
        Assert.True(difference is null, $"{file}: {difference}");
    }

    [CorpusTheory]
    [MemberData(nameof(BadFiles))]
    public void Bad_file_gives_the_reference_errors(string file)
    {
        var path = GherkinCorpus.PathOf(file);
        var result = GherkinParser.Parse(File.ReadAllText(path));

        var expected = File.ReadLines(path + ".errors.ndjson")
            .Where(line => line.Length > 0)
            .Select(line => JsonNode.Parse(line)!["parseError"]!)
            .Select(error =>
            {
                var location = error["source"]!["location"]!;
                return $"{(int)location["line"]!}:{(int?)location["column"] ?? 0} {(string)error["message"]!}";
            });
        var actual = result.Errors.Select(error => $"{error.Line}:{error.Column} {error}");

        Assert.Null(result.Document);
        Assert.Equal(expected, actual);
    }
}
