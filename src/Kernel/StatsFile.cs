using System.Text;
using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// Reads a binary stats fd (api.rst, "The binary statistics"): struct kvm_stats_header, then
/// the id string, num_desc struct kvm_stats_desc each followed by its name_size-byte name, and
/// the data block, where a descriptor's values are <c>size</c> u64s at data_offset + offset.
/// </summary>
internal static unsafe class StatsFile
{
    private const uint TypeMask = 0xF;
    private const int UnitShift = 4;
    private const uint UnitMask = 0xF0;

    public static KvmResult<KvmStats> Read(int fd)
    {
        KvmStatsHeader header;
        if (Pread(fd, new Span<byte>(&header, sizeof(KvmStatsHeader)), 0) is { } headerError)
        {
            return KvmResult<KvmStats>.Fail(headerError);
        }

        var id = new byte[header.NameSize];
        if (Pread(fd, id, header.IdOffset) is { } idError)
        {
            return KvmResult<KvmStats>.Fail(idError);
        }

        var descSize = sizeof(KvmStatsDesc) + (int)header.NameSize;
        var descs = new byte[descSize * (int)header.NumDesc];
        if (Pread(fd, descs, header.DescOffset) is { } descError)
        {
            return KvmResult<KvmStats>.Fail(descError);
        }

        var stats = new List<KvmStat>();
        for (var i = 0; i < header.NumDesc; i++)
        {
            var raw = descs.AsSpan(i * descSize, descSize);
            KvmStatsDesc desc;
            raw[..sizeof(KvmStatsDesc)].CopyTo(new Span<byte>(&desc, sizeof(KvmStatsDesc)));
            var values = new ulong[desc.Size];
            fixed (ulong* data = values)
            {
                if (Pread(fd, new Span<byte>(data, values.Length * sizeof(ulong)), header.DataOffset + desc.Offset) is { } dataError)
                {
                    return KvmResult<KvmStats>.Fail(dataError);
                }
            }

            stats.Add(new KvmStat(
                CString(raw[sizeof(KvmStatsDesc)..]),
                (KvmStatType)(desc.Flags & TypeMask),
                (KvmStatUnit)((desc.Flags & UnitMask) >> UnitShift),
                desc.Exponent,
                values));
        }

        return KvmResult<KvmStats>.Ok(new KvmStats(CString(id), stats));
    }

    private static Errno? Pread(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
        {
            var n = Libc.Pread(fd, p, (nuint)buffer.Length, offset);
            return n < 0 ? (Errno)Libc.Errno : n < buffer.Length ? Errno.EIO : null;
        }
    }

    private static string CString(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? bytes : bytes[..end]);
    }
}
