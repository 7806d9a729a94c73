using Microsoft.CodeAnalysis;

namespace SpecKit.Generators;

/// <summary>
/// A diagnostic as an equatable value: the descriptor's ID, where, and the message
/// arguments. The Roslyn <see cref="Diagnostic"/> is made from it in the output stage.
/// </summary>
internal sealed record DiagnosticInfo(string Id, SourceSpan? Span, EquatableArray<string> Args)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, SourceSpan? span, params string[] args) =>
        new(descriptor.Id, span, args.ToEquatableArray());

    public Diagnostic ToDiagnostic(DiagnosticDescriptor descriptor) =>
        Diagnostic.Create(descriptor, Span?.ToLocation() ?? Location.None, [.. Args]);
}
