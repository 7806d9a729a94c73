using System;
using System.Collections.Generic;
using System.Linq;

namespace SpecKit.Generators.Features.Gherkin;

/// <summary>The keywords of one Gherkin spoken language (a <c># language:</c> code).</summary>
internal sealed class GherkinDialect
{
    private readonly Dictionary<string, StepKeywordType> _stepKeywordTypes;

    public GherkinDialect(
        string language,
        string name,
        string native,
        string[] feature,
        string[] rule,
        string[] background,
        string[] scenario,
        string[] scenarioOutline,
        string[] examples,
        string[] given,
        string[] when,
        string[] then,
        string[] and,
        string[] but)
    {
        Language = language;
        Name = name;
        Native = native;
        FeatureKeywords = feature;
        RuleKeywords = rule;
        BackgroundKeywords = background;
        ScenarioKeywords = scenario;
        ScenarioOutlineKeywords = scenarioOutline;
        ExamplesKeywords = examples;

        // Longest first: in some languages one step keyword is a prefix of another, and the
        // reference implementation resolves that by trying the longest one first.
        StepKeywords = given.Concat(when).Concat(then).Concat(and).Concat(but)
            .Distinct(StringComparer.Ordinal)
            .OrderByDescending(k => k.Length)
            .ToArray();

        // A keyword listed under more than one step kind ("* " is under all of them) has no
        // single meaning, so it is Unknown, as in the reference implementation.
        var kinds = given.Select(k => (k, StepKeywordType.Context))
            .Concat(when.Select(k => (k, StepKeywordType.Action)))
            .Concat(then.Select(k => (k, StepKeywordType.Outcome)))
            .Concat(and.Select(k => (k, StepKeywordType.Conjunction)))
            .Concat(but.Select(k => (k, StepKeywordType.Conjunction)));
        _stepKeywordTypes = kinds
            .GroupBy(p => p.k, p => p.Item2, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count() == 1 ? g.First() : StepKeywordType.Unknown, StringComparer.Ordinal);
    }

    /// <summary>The language code, e.g. <c>en</c> or <c>fr</c>.</summary>
    public string Language { get; }

    /// <summary>The language's English name.</summary>
    public string Name { get; }

    /// <summary>The language's name in itself.</summary>
    public string Native { get; }

    public IReadOnlyList<string> FeatureKeywords { get; }

    public IReadOnlyList<string> RuleKeywords { get; }

    public IReadOnlyList<string> BackgroundKeywords { get; }

    public IReadOnlyList<string> ScenarioKeywords { get; }

    public IReadOnlyList<string> ScenarioOutlineKeywords { get; }

    public IReadOnlyList<string> ExamplesKeywords { get; }

    /// <summary>Every step keyword, with its trailing space where it has one, longest first.</summary>
    public IReadOnlyList<string> StepKeywords { get; }

    public StepKeywordType KeywordTypeOf(string stepKeyword) =>
        _stepKeywordTypes.TryGetValue(stepKeyword, out var type) ? type : StepKeywordType.Unknown;
}

/// <summary>Looks dialects up by language code; the tables are in the generated GherkinDialects.cs.</summary>
internal static partial class GherkinDialects
{
    private static readonly Dictionary<string, GherkinDialect> All = CreateAll();

    public const string DefaultLanguage = "en";

    public static GherkinDialect Default { get; } = All[DefaultLanguage];

    public static IEnumerable<string> Languages => All.Keys;

    public static GherkinDialect? TryGet(string language) =>
        All.TryGetValue(language, out var dialect) ? dialect : null;
}
