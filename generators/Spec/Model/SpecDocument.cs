namespace SpecKit.Generators.Spec.Model;

/// <summary>
/// One parsed spec file: what it declares and what was wrong with it. A file that opens
/// with <c>Variant</c> is an overlay on the base spec rather than part of it.
/// </summary>
internal sealed record SpecDocument(
    string Path,
    VariantHeader? Variant,
    EquatableArray<LayoutDecl> Layouts,
    EquatableArray<ConstantsDecl> Constants,
    EquatableArray<WalkerDecl> Walkers,
    EquatableArray<OperationDecl> Operations,
    EquatableArray<ConstantsDecl> Formats,
    EquatableArray<DiagnosticInfo> Diagnostics);

internal sealed record VariantHeader(string Name, string Title, SourceSpan Span);
