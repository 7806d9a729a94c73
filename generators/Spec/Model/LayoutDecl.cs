namespace SpecKit.Generators.Spec.Model;

/// <summary>
/// A 64-bit entry layout: every bit belongs to exactly one field, reserved or ignored range.
/// <see cref="Incomplete"/> says the parser already reported a line of it, so the bits that
/// line would have declared are not reported again as a gap.
/// </summary>
internal sealed record LayoutDecl(string Name, string Title, SourceSpan Span, EquatableArray<FieldDecl> Fields, bool Incomplete);

internal enum FieldKind
{
    /// <summary>A named field: a bool for one bit, an unsigned number for several.</summary>
    Field,

    /// <summary>A named multi-bit field whose values have names.</summary>
    Enum,

    /// <summary>Must be zero (the SDM's "Reserved (must be 0)").</summary>
    Reserved,

    /// <summary>Ignored by the hardware and not used by KVM.</summary>
    Ignored,
}

/// <summary>
/// One declared bit range. <see cref="Name"/> is null for Reserved and Ignored ranges, which
/// are named after their bits in messages. <see cref="Source"/> is null only when the
/// citation is missing, which the parser reports.
/// </summary>
internal sealed record FieldDecl(
    FieldKind Kind,
    string? Name,
    int Hi,
    int Lo,
    string? Source,
    SourceSpan Span,
    EquatableArray<EnumMemberDecl> Members)
{
    public int Width => Hi - Lo + 1;

    public string Bits => Hi == Lo ? $"bit {Lo}" : $"bits {Hi}:{Lo}";

    public string DisplayName => Name ?? $"{Kind} {(Hi == Lo ? $"{Lo}" : $"{Hi}:{Lo}")}";
}

internal sealed record EnumMemberDecl(string Name, ulong Value, SourceSpan Span);
