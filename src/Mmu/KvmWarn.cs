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

/// <summary>Formats a warning's message only when its condition holds.</summary>
[InterpolatedStringHandler]
public ref struct WarnMessage
{
    private DefaultInterpolatedStringHandler _inner;

    public WarnMessage(int literalLength, int formattedCount, bool condition, out bool shouldAppend)
    {
        _inner = condition ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
        shouldAppend = condition;
    }

    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _inner.AppendFormatted(value, format);

    public string ToStringAndClear() => _inner.ToStringAndClear();
}

public sealed class KvmWarnException(string what) : Exception("WARN: " + what);
