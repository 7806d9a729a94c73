using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace SpecKit.Generators;

/// <summary>
/// Where something sits in a spec or feature file, kept as plain values so that models
/// stay equatable; it becomes a Roslyn <see cref="Location"/> only in the output stage.
/// Lines and columns are 0-based, as Roslyn's are; users see them 1-based.
/// </summary>
internal sealed record SourceSpan(string Path, int Start, int Length, int Line, int Column, int EndLine, int EndColumn)
{
    public static SourceSpan At(string path, int start, int length, int line, int column) =>
        new(path, start, length, line, column, line, column + length);

    public Location ToLocation() =>
        Location.Create(
            Path,
            new TextSpan(Start, Length),
            new LinePositionSpan(new LinePosition(Line, Column), new LinePosition(EndLine, EndColumn)));

    /// <summary>file:line:column, 1-based, for generated comments and messages.</summary>
    public string Display => $"{Path}:{Line + 1}:{Column + 1}";
}
