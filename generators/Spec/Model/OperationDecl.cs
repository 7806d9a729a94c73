namespace SpecKit.Generators.Spec.Model;

/// <summary>
/// An MMU operation's policy: what it touches, records, flushes, and whether it may yield.
/// Each key is its own line with its own citation; a variant overrides only the keys it lists.
/// </summary>
internal sealed record OperationDecl(string Name, string Title, SourceSpan Span, EquatableArray<PolicyEntry> Entries);

/// <summary>One <c>Key Value... "source"</c> line of an Operation block.</summary>
internal sealed record PolicyEntry(string Key, EquatableArray<string> Values, string? Source, SourceSpan Span, SourceSpan ValueSpan);

/// <summary>A resolved operation policy, ready to emit.</summary>
internal sealed record OperationModel(string Name, string Title, string Origin, EquatableArray<ResolvedEntry> Entries);

internal sealed record ResolvedEntry(string Key, EquatableArray<string> Values, string Source);

internal sealed record OperationUnit(ModelId Model, OperationModel Operation) : EmitUnit(Model, ModelInfoUnit.Hint(Model, "MmuPolicy." + Operation.Name));

internal sealed record PolicyIndexUnit(ModelId Model, EquatableArray<string> Operations) : EmitUnit(Model, ModelInfoUnit.Hint(Model, "MmuPolicy"));
