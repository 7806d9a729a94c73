using System.Linq;

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

internal sealed record PolicyIndexUnit(ModelId Model, EquatableArray<string> Operations, EquatableArray<string> RangeOps) : EmitUnit(Model, ModelInfoUnit.Hint(Model, "MmuPolicy"));

/// <summary>
/// A leaf-rewriting range operation (Visits Leaves, Changes among Zap Writable MmuWritable Dirty
/// Accessed), emitted as code from its policy rather than only as data.
/// </summary>
internal sealed record RangeOpUnit(ModelId Model, OperationModel Operation) : EmitUnit(Model, ModelInfoUnit.Hint(Model, "TdpRangeOps." + Operation.Name))
{
    public static readonly string[] Bits = ["Writable", "MmuWritable", "Dirty", "Accessed"];

    /// <summary>Whether the generator can write this operation's loop from its policy alone.</summary>
    public static bool Applies(OperationModel op)
    {
        var entries = op.Entries.ToDictionary(e => e.Key, e => e.Values);
        var changes = entries["Changes"];

        // An operation with a RootFilter (UnmapGfnRange) picks roots; the leaf walk in each
        // root is another operation's (ZapLeafs), so it has no loop of its own to emit.
        return entries["Visits"][0] == "Leaves" && entries["Exists"][0] == "Yes"
            && (changes.All(c => Bits.Contains(c)) || (changes.Count == 1 && changes[0] == "Zap"))
            && op.Name != "AgeGfnRange" && op.Name != "ClearDirtyPtMasked"
            && !entries.ContainsKey("RootFilter")

            // FNAME(sync_spte) decides per gPTE; the shadow MMU runs it (src/Mmu/Shadow).
            && !entries.ContainsKey("InvalidGpte");
    }
}
