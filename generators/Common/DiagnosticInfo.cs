using System.Linq;
using Microsoft.CodeAnalysis;

namespace SpecKit.Generators;

/// <summary>
/// A diagnostic as an equatable value: the descriptor's ID, where, and the message
/// arguments. The Roslyn <see cref="Diagnostic"/> is made from it in the output stage.
/// <see cref="Context"/>, when set, opens the message (e.g. "Variant ClearDirtyRecordsDirty"),
/// for errors that only arise in one of several models built from the same lines.
/// </summary>
internal sealed record DiagnosticInfo(string Id, SourceSpan? Span, EquatableArray<string> Args, string? Context = null)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, SourceSpan? span, params string[] args) =>
        new(descriptor.Id, span, args.ToEquatableArray());

    public Diagnostic ToDiagnostic(DiagnosticDescriptor descriptor) =>
        Diagnostic.Create(Context is null ? descriptor : WithContext(descriptor, Context), Span?.ToLocation() ?? Location.None, [.. Args]);

    /// <summary>The same rule, its message prefixed; the ID, severity and title stay those of the descriptor.</summary>
    private static DiagnosticDescriptor WithContext(DiagnosticDescriptor descriptor, string context) =>
        new(
            descriptor.Id,
            descriptor.Title,
            context.Replace("{", "{{").Replace("}", "}}") + ": " + descriptor.MessageFormat,
            descriptor.Category,
            descriptor.DefaultSeverity,
            descriptor.IsEnabledByDefault,
            customTags: descriptor.CustomTags.ToArray());
}
