using System.Runtime.CompilerServices;

namespace SpecKit.Mmu;

/// <summary>
/// The model's WARN_ON / KVM_BUG_ON. Where the kernel would warn and limp on, the model
/// stops the scenario: a warning in a model run means the scenario found a kernel rule
/// broken (or the model has a bug), and either way nobody should read further results.
/// </summary>
public static class KvmWarn
{
    public static void On(bool condition, string what)
    {
        if (condition)
        {
            throw new KvmWarnException(what);
        }
    }

    /// <summary>The same, for an interpolated message, which is only formatted when the warning fires: these checks sit on the fault path.</summary>
    public static void On(bool condition, [InterpolatedStringHandlerArgument(nameof(condition))] ref WarnMessage what)
    {
        if (condition)
        {
            throw new KvmWarnException(what.ToStringAndClear());
        }
    }
}

/// <summary>
/// Formats a warning's message only when its condition holds. It holds nothing but a builder
/// that stays null while the condition is false, so a check on the fault path costs one
/// pointer-sized local; a DefaultInterpolatedStringHandler (six words, zeroed and copied for
/// every check the JIT inlines) cost the TDP fault path about a tenth of its time.
/// </summary>
[InterpolatedStringHandler]
public ref struct WarnMessage
{
    private readonly System.Text.StringBuilder? _text;

    public WarnMessage(int literalLength, int formattedCount, bool condition, out bool shouldAppend)
    {
        _text = condition ? new System.Text.StringBuilder(literalLength + (formattedCount * 16)) : null;
        shouldAppend = condition;
    }

    public readonly void AppendLiteral(string value) => _text?.Append(value);

    public readonly void AppendFormatted<T>(T value) => _text?.Append(value);

    // As string interpolation formats it: the current culture, through IFormattable when there is a format.
    public readonly void AppendFormatted<T>(T value, string? format) =>
        _text?.Append(value is IFormattable formattable ? formattable.ToString(format, null) : value?.ToString());

    public readonly string ToStringAndClear() => _text?.ToString() ?? "";
}

public sealed class KvmWarnException(string what) : Exception("WARN: " + what);
