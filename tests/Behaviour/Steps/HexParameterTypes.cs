using System.Globalization;
using SpecKit.Features;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Behaviour.Steps;

/// <summary>Parameter types in the words KVM developers use: GFNs, PFNs, GPAs, page-table levels and access kinds.</summary>
public static class HexParameterTypes
{
    /// <summary><c>{gfn}</c>: a guest frame number, hex (0x1f) or decimal.</summary>
    [ParameterType("gfn", "0x[0-9a-fA-F_]+|[0-9]+")]
    public static ulong Gfn(string text) => ParseNumber(text);

    /// <summary><c>{pfn}</c>: a host frame number, hex (0x1f) or decimal.</summary>
    [ParameterType("pfn", "0x[0-9a-fA-F_]+|[0-9]+")]
    public static ulong Pfn(string text) => ParseNumber(text);

    /// <summary><c>{level}</c>: 4K, 2M, 1G or a level number 1..5, as PG_LEVEL_* counts them.</summary>
    [ParameterType("level", "4K|2M|1G|[1-5]")]
    public static int Level(string text) => text switch
    {
        "4K" => 1,
        "2M" => 2,
        "1G" => 3,
        _ => int.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <summary><c>{gpa}</c>: a guest physical address, hex (0x3008) or decimal.</summary>
    [ParameterType("gpa", "0x[0-9a-fA-F_]+|[0-9]+")]
    public static ulong Gpa(string text) => ParseNumber(text);

    /// <summary><c>{access}</c>: read, write or fetch, as an EPT violation's exit qualification names them.</summary>
    [ParameterType("access", "read|write|fetch")]
    public static AccessKind Access(string text) => text switch
    {
        "write" => AccessKind.Write,
        "fetch" => AccessKind.Fetch,
        _ => AccessKind.Read,
    };

    private static ulong ParseNumber(string text)
    {
        var clean = text.Replace("_", "", StringComparison.Ordinal);
        return clean.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(clean.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : ulong.Parse(clean, CultureInfo.InvariantCulture);
    }
}
