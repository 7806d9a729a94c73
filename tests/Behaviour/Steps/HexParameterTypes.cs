using System.Globalization;
using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Parameter types in the words KVM developers use: GFNs, PFNs, GPAs, page-table levels and
/// access kinds, model names, and the words steps compare with. Each says what it accepts, and
/// the feature generator holds every step's argument to it at build time: a GFN beyond 64 bits
/// or a misspelt model is a compile error at the step, never an exception here.
/// </summary>
public static class HexParameterTypes
{
    private const string Number = "0x[0-9a-fA-F_]+|[0-9]+";

    /// <summary><c>{gfn}</c>: a guest frame number, hex (0x1f) or decimal.</summary>
    [ParameterType("gfn", Number, Integer = true, Description = "a guest frame number")]
    public static ulong Gfn(string text) => ParseNumber(text);

    /// <summary><c>{pfn}</c>: a host frame number, hex (0x1f) or decimal.</summary>
    [ParameterType("pfn", Number, Integer = true, Description = "a host frame number")]
    public static ulong Pfn(string text) => ParseNumber(text);

    /// <summary><c>{level}</c>: 4K, 2M, 1G or a level number 1..5, as PG_LEVEL_* counts them.</summary>
    [ParameterType("level", @"\w+", Words = ["4K", "2M", "1G", "1", "2", "3", "4", "5"], Description = "a page size or a page-table level (PG_LEVEL_*)")]
    public static int Level(string text) => text switch
    {
        "4K" => 1,
        "2M" => 2,
        "1G" => 3,
        _ => int.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <summary><c>{gpa}</c>: a guest physical address, hex (0x3008) or decimal.</summary>
    [ParameterType("gpa", Number, Integer = true, Description = "a guest physical address")]
    public static ulong Gpa(string text) => ParseNumber(text);

    /// <summary><c>{access}</c>: read, write or fetch, as an EPT violation's exit qualification names them.</summary>
    [ParameterType("access", @"\w+", Words = ["read", "write", "fetch"], Description = "an access")]
    public static AccessKind Access(string text) => text switch
    {
        "write" => AccessKind.Write,
        "fetch" => AccessKind.Fetch,
        _ => AccessKind.Read,
    };

    /// <summary><c>{model}</c>: the base model or a variant of spec/variants, by its name.</summary>
    [ParameterType("model", @"\S+", WordsOf = typeof(SpecModelNames), Description = "a model")]
    public static string Model(string text) => text;

    /// <summary><c>{on_off}</c>: a module parameter's state.</summary>
    [ParameterType("on_off", @"\S+", Words = ["on", "off"])]
    public static bool OnOff(string text) => text == "on";

    /// <summary><c>{writability}</c>: whether an SPTE is writable.</summary>
    [ParameterType("writability", @"\S+", Words = ["writable", "read-only"])]
    public static bool Writable(string text) => text == "writable";

    /// <summary><c>{young_old}</c>: what test_young answers.</summary>
    [ParameterType("young_old", @"\S+", Words = ["young", "old"])]
    public static string YoungOld(string text) => text;

    /// <summary><c>{sync_state}</c>: whether a shadow page is unsync or in sync with its guest table.</summary>
    [ParameterType("sync_state", @"\S+", Words = ["unsync", "synced"])]
    public static string SyncState(string text) => text;

    /// <summary><c>{tracking}</c>: whether a guest table's gfn is write-tracked.</summary>
    [ParameterType("tracking", @"\S+", Words = ["write-tracked", "untracked"])]
    public static string Tracking(string text) => text;

    private static ulong ParseNumber(string text)
    {
        var clean = text.Replace("_", "", StringComparison.Ordinal);
        return clean.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(clean.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : ulong.Parse(clean, CultureInfo.InvariantCulture);
    }
}
