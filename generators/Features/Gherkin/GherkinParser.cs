using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Official = global::Gherkin;

namespace SpecKit.Generators.Features.Gherkin;

/// <summary>
/// Gherkin text to a <see cref="GherkinDocument"/> by the official parser (the <c>Gherkin</c>
/// package, cucumber/gherkin's own .NET build, which loads beside this generator): its AST is
/// mapped into the equatable records the binder and emitter use, and its
/// <c>CompositeParserException</c> into <see cref="GherkinError"/>s, so this never throws.
/// </summary>
internal static class GherkinParser
{
    private static readonly Regex LocationPrefix = new(@"^\(\d+:\d+\): ", RegexOptions.CultureInvariant);

    public static GherkinParseResult Parse(string text)
    {
        try
        {
            var document = new Official.Parser().Parse(new StringReader(text ?? ""));
            return new GherkinParseResult(Map(document), EquatableArray<GherkinError>.Empty);
        }
        catch (Official.CompositeParserException e)
        {
            return Failed(e.Errors);
        }
        catch (Official.ParserException e)
        {
            return Failed(new[] { e });
        }
    }

    private static GherkinParseResult Failed(IEnumerable<Official.ParserException> errors) =>
        new(null, errors.Select(e => new GherkinError(LocationPrefix.Replace(e.Message, ""), e.Location?.Line ?? 0, e.Location?.Column ?? 0)).ToEquatableArray());

    private static GherkinDocument Map(Official.Ast.GherkinDocument document) =>
        new(document.Feature is { } feature ? Map(feature) : null, (document.Comments ?? []).Select(c => new Comment(At(c.Location), c.Text)).ToEquatableArray());

    private static Feature Map(Official.Ast.Feature feature) =>
        new(At(feature.Location), Tags(feature.Tags), feature.Language, feature.Keyword, feature.Name ?? "", feature.Description ?? "", Children(feature.Children));

    private static EquatableArray<FeatureChild> Children(IEnumerable<Official.Ast.IHasLocation>? children) =>
        (children ?? []).Select(Child).Where(c => c is not null).Select(c => c!).ToEquatableArray();

    private static FeatureChild? Child(Official.Ast.IHasLocation child) => child switch
    {
        Official.Ast.Background b => new Background(At(b.Location), b.Keyword, b.Name ?? "", b.Description ?? "", Steps(b.Steps)),
        Official.Ast.Scenario s => new Scenario(At(s.Location), Tags(s.Tags), s.Keyword, s.Name ?? "", s.Description ?? "", Steps(s.Steps), (s.Examples ?? []).Select(Map).ToEquatableArray()),
        Official.Ast.Rule r => new Rule(At(r.Location), Tags(r.Tags), r.Keyword, r.Name ?? "", r.Description ?? "", Children(r.Children)),
        _ => null,
    };

    private static Examples Map(Official.Ast.Examples examples) =>
        new(At(examples.Location), Tags(examples.Tags), examples.Keyword, examples.Name ?? "", examples.Description ?? "",
            examples.TableHeader is { } header ? Map(header) : null, (examples.TableBody ?? []).Select(Map).ToEquatableArray());

    private static EquatableArray<Step> Steps(IEnumerable<Official.Ast.Step>? steps) =>
        (steps ?? []).Select(s => new Step(
            At(s.Location),
            s.Keyword,
            s.KeywordType switch
            {
                Official.StepKeywordType.Context => StepKeywordType.Context,
                Official.StepKeywordType.Action => StepKeywordType.Action,
                Official.StepKeywordType.Outcome => StepKeywordType.Outcome,
                Official.StepKeywordType.Conjunction => StepKeywordType.Conjunction,
                _ => StepKeywordType.Unknown,
            },
            s.Text,
            s.DataTable is { } table ? new DataTable(At(table.Location), table.Rows.Select(Map).ToEquatableArray()) : null,
            s.DocString is { } doc ? new DocString(At(doc.Location), string.IsNullOrEmpty(doc.ContentType) ? null : doc.ContentType, doc.Content, doc.Delimiter) : null)).ToEquatableArray();

    private static TableRow Map(Official.Ast.TableRow row) =>
        new(At(row.Location), row.Cells.Select(c => new TableCell(At(c.Location), c.Value)).ToEquatableArray());

    private static EquatableArray<Tag> Tags(IEnumerable<Official.Ast.Tag>? tags) =>
        (tags ?? []).Select(t => new Tag(At(t.Location), t.Name)).ToEquatableArray();

    private static Location At(Official.Ast.Location location) => new(location.Line, location.Column);
}
