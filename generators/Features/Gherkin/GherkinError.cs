namespace SpecKit.Generators.Features.Gherkin;

/// <summary>
/// A syntax error, as a value: the parser runs inside the compiler and must never throw.
/// Line and Column are 1-based; Column is 0 for errors at the end of the file, as in the
/// reference implementation, whose message format <see cref="ToString"/> reproduces.
/// </summary>
internal sealed record GherkinError(string Message, int Line, int Column)
{
    public override string ToString() => $"({Line}:{Column}): {Message}";
}

/// <summary>
/// What parsing produced: the document when the file is valid, otherwise the errors (like
/// the reference implementation, which yields no document for a file with errors).
/// </summary>
internal sealed record GherkinParseResult(GherkinDocument? Document, EquatableArray<GherkinError> Errors)
{
    public bool Success => Errors.Count == 0;
}
