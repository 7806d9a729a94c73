using System.Collections;
using System.Runtime.CompilerServices;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// What happened in a VM, in order and in kernel terms (faults, notifier calls, flushes,
/// ioctls): what scenarios snapshot and failure reports show. Off (<see cref="Enabled"/>), a
/// line is not even formatted, so benchmarks and long explorations pay nothing for it.
/// </summary>
public sealed class KvmLog : IReadOnlyList<string>
{
    private readonly List<string> _lines = [];

    public bool Enabled { get; set; } = true;

    public int Count => _lines.Count;

    public string this[int index] => _lines[index];

    public void Add(string line)
    {
        if (Enabled)
        {
            _lines.Add(line);
        }
    }

    /// <summary>An interpolated line, formatted only while the log is on.</summary>
    public void Add([InterpolatedStringHandlerArgument("")] ref LogLine line)
    {
        if (Enabled)
        {
            _lines.Add(line.ToStringAndClear());
        }
    }

    public IEnumerator<string> GetEnumerator() => _lines.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join("\n", _lines);
}

/// <summary>Formats a log line only when the log is on.</summary>
[InterpolatedStringHandler]
public ref struct LogLine
{
    private DefaultInterpolatedStringHandler _inner;

    public LogLine(int literalLength, int formattedCount, KvmLog log, out bool shouldAppend)
    {
        shouldAppend = log.Enabled;
        _inner = shouldAppend ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _inner.AppendFormatted(value, format);

    public string ToStringAndClear() => _inner.ToStringAndClear();
}
