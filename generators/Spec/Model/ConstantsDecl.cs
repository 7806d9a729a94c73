namespace SpecKit.Generators.Spec.Model;

/// <summary>A group of named 64-bit values (spte.h's special values and masks).</summary>
internal sealed record ConstantsDecl(string Name, string Title, SourceSpan Span, EquatableArray<ValueDecl> Values);

internal sealed record ValueDecl(string Name, Expr Expression, string Text, string? Source, SourceSpan Span);

/// <summary>The small expression language of <c>Value</c>: terms joined by <c>|</c>, each optionally shifted.</summary>
internal abstract record Expr(SourceSpan Span);

internal sealed record NumberExpr(ulong Value, SourceSpan Span) : Expr(Span);

/// <summary><c>bit(n)</c>.</summary>
internal sealed record BitExpr(int Bit, SourceSpan Span) : Expr(Span);

/// <summary>A constant (<c>NAME</c>), a field mask (<c>Layout.Field</c>) or an enum value in place (<c>Layout.Field.Member</c>).</summary>
internal sealed record RefExpr(EquatableArray<string> Path, SourceSpan Span) : Expr(Span)
{
    public string Text => string.Join(".", Path);
}

internal sealed record OrExpr(EquatableArray<Expr> Terms, SourceSpan Span) : Expr(Span);

internal sealed record ShiftExpr(Expr Operand, int Shift, SourceSpan Span) : Expr(Span);
