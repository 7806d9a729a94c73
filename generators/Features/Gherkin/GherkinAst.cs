namespace SpecKit.Generators.Features.Gherkin;

// The Gherkin syntax tree, shaped like the reference implementation's (and the corpus's
// .ast.ndjson) so the two can be compared field by field. Everything is an equatable value
// so that incremental generator stages caching on it compare by content.
// Absent names and descriptions are "", as in the Cucumber messages.

/// <summary>A 1-based line and column; column 0 means "no column" (end of file).</summary>
internal readonly record struct Location(int Line, int Column)
{
    public override string ToString() => $"({Line}:{Column})";
}

/// <summary>A parsed file: its feature, if it has one, and all of its comments.</summary>
internal sealed record GherkinDocument(Feature? Feature, EquatableArray<Comment> Comments);

/// <summary>A <c>#</c> line; Text is the whole line, indentation included.</summary>
internal sealed record Comment(Location Location, string Text);

/// <summary>A tag, with its <c>@</c>.</summary>
internal sealed record Tag(Location Location, string Name);

/// <summary>A direct child of a feature or a rule: a background, a scenario or (features only) a rule.</summary>
internal abstract record FeatureChild(Location Location, string Keyword, string Name, string Description);

internal sealed record Feature(
    Location Location,
    EquatableArray<Tag> Tags,
    string Language,
    string Keyword,
    string Name,
    string Description,
    EquatableArray<FeatureChild> Children);

/// <summary>A rule; its children are backgrounds and scenarios only.</summary>
internal sealed record Rule(
    Location Location,
    EquatableArray<Tag> Tags,
    string Keyword,
    string Name,
    string Description,
    EquatableArray<FeatureChild> Children)
    : FeatureChild(Location, Keyword, Name, Description);

internal sealed record Background(
    Location Location,
    string Keyword,
    string Name,
    string Description,
    EquatableArray<Step> Steps)
    : FeatureChild(Location, Keyword, Name, Description);

/// <summary>
/// A scenario; Keyword tells a Scenario/Example from a Scenario Outline/Template (the
/// dialect's scenarioOutline keywords), and an outline's rows are in Examples.
/// </summary>
internal sealed record Scenario(
    Location Location,
    EquatableArray<Tag> Tags,
    string Keyword,
    string Name,
    string Description,
    EquatableArray<Step> Steps,
    EquatableArray<Examples> Examples)
    : FeatureChild(Location, Keyword, Name, Description);

/// <summary>An Examples block; TableHeader is null when it has no table.</summary>
internal sealed record Examples(
    Location Location,
    EquatableArray<Tag> Tags,
    string Keyword,
    string Name,
    string Description,
    TableRow? TableHeader,
    EquatableArray<TableRow> TableBody);

/// <summary>A step; Keyword keeps its trailing space (<c>"Given "</c>), as the reference does.</summary>
internal sealed record Step(
    Location Location,
    string Keyword,
    StepKeywordType KeywordType,
    string Text,
    DataTable? DataTable,
    DocString? DocString);

/// <summary>What a step keyword means, as the corpus's <c>keywordType</c>.</summary>
internal enum StepKeywordType
{
    Unknown,
    Context,
    Action,
    Outcome,
    Conjunction,
}

/// <summary>A step's table; its location is its first row's.</summary>
internal sealed record DataTable(Location Location, EquatableArray<TableRow> Rows);

internal sealed record TableRow(Location Location, EquatableArray<TableCell> Cells);

/// <summary>A cell, unescaped and trimmed; its location is that of its first character.</summary>
internal sealed record TableCell(Location Location, string Value);

/// <summary>A step's doc string; MediaType is null when the opening delimiter has none.</summary>
internal sealed record DocString(Location Location, string? MediaType, string Content, string Delimiter);
