using SpecKit.Generators.Features.Gherkin;

namespace SpecKit.Generators.Features.Model;

/// <summary>
/// One parsed .feature file. <see cref="DisplayPath"/> is from <c>features/</c> on, for names,
/// messages and snapshot folders; <see cref="Path"/> is as the compiler gave it, for
/// diagnostics and <c>#line</c>. <see cref="LineStarts"/> turns Gherkin's line:column into offsets.
/// </summary>
internal sealed record FeatureFile(string Path, string DisplayPath, GherkinParseResult Parse, EquatableArray<int> LineStarts)
{
    /// <summary>Where the compiler replaced bytes that are not UTF-8 with U+FFFD (1-based line and column), if it did.</summary>
    public Location? InvalidUtf8 { get; init; }

    public SourceSpan Span(int line, int column, int length)
    {
        var lineIndex = System.Math.Max(0, System.Math.Min(line - 1, LineStarts.Count - 1));
        var col = System.Math.Max(0, column - 1);
        var start = LineStarts.Count == 0 ? 0 : LineStarts[lineIndex] + col;
        return SourceSpan.At(Path, start, System.Math.Max(0, length), lineIndex, col);
    }
}
