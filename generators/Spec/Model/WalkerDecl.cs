namespace SpecKit.Generators.Spec.Model;

/// <summary>
/// The geometry of a radix page table and which entry bits steer the walk. Each property
/// keeps its own location and citation so that errors point at the line that is wrong.
/// </summary>
internal sealed record WalkerDecl(
    string Name,
    string Title,
    SourceSpan Span,
    EquatableArray<WalkerProperty> Properties,
    EquatableArray<WalkerLevel> Levels);

/// <summary>A <c>PageShift</c>, <c>LevelBits</c>, <c>RootLevels</c>, <c>Present</c>, <c>Huge</c>, <c>Address</c> or <c>Iterator</c> line.</summary>
internal sealed record WalkerProperty(string Key, EquatableArray<string> Values, string? Source, SourceSpan Span);

/// <summary>A <c>Level n Name Leaf|Table</c> line.</summary>
internal sealed record WalkerLevel(int Level, string Name, bool MayBeLeaf, string? Source, SourceSpan Span);
