using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu;

/// <summary>
/// One model generated from spec/: the base (the newest kernel) or a variant (an older kernel,
/// a proposed patch), with its MMU policy and, as data, its layouts and named values. The
/// spec generator emits one per model (<c>SpecModel.Info</c> in the model's namespace).
/// </summary>
public sealed record SpecModelInfo(
    string Name,
    string Description,
    MmuRules Rules,
    IReadOnlyList<X86.SpteMasks> Formats,
    IReadOnlyList<LayoutInfo> Layouts,
    IReadOnlyList<NamedValue> Values)
{
    /// <summary>The masks of SPTE format <paramref name="format"/> in this model (spec/layouts/spte-masks.layout).</summary>
    public X86.SpteMasks Masks(X86.SpteFormat format) =>
        Formats.FirstOrDefault(f => f.Format == format) ?? throw new InvalidOperationException($"model '{Name}' declares no Format {format}");

    /// <summary>The layout <paramref name="name"/> of this model.</summary>
    public LayoutInfo Layout(string name) =>
        Layouts.FirstOrDefault(l => l.Name == name)
            ?? throw new ArgumentException($"model '{Name}' has no layout {name}; its layouts are {string.Join(", ", Layouts.Select(l => l.Name))}", nameof(name));

    /// <summary>The named value <paramref name="name"/> of the Constants block <paramref name="block"/>.</summary>
    public ulong Value(string block, string name) =>
        Values.FirstOrDefault(v => v.Block == block && v.Name == name)?.Value
            ?? throw new ArgumentException($"model '{Name}' has no value {block}.{name}", nameof(name));

    public override string ToString() => Name;
}

/// <summary>A layout's named fields (Reserved and Ignored ranges aside), lowest bit first as declared.</summary>
public sealed record LayoutInfo(string Name, IReadOnlyList<LayoutFieldInfo> Fields)
{
    public LayoutFieldInfo Field(string name) =>
        Fields.FirstOrDefault(f => f.Name == name)
            ?? throw new ArgumentException($"{Name} has no field {name}; its fields are {string.Join(", ", Fields.Select(f => f.Name))}", nameof(name));

    /// <summary>
    /// The fields of <paramref name="raw"/> as the generated struct's ToString writes them: every
    /// Enum field, the one-bit fields that are set, the other fields that are not zero.
    /// </summary>
    public string Describe(ulong raw)
    {
        var parts = Fields.OrderBy(f => f.Lo)
            .Where(f => f.Members is not null || f.Get(raw) != 0)
            .Select(f => f.Members is { } m ? $"{f.Name}={m.FirstOrDefault(x => x.Value == f.Get(raw))?.Name ?? f.Get(raw).ToString(System.Globalization.CultureInfo.InvariantCulture)}"
                : f.Width == 1 ? f.Name
                : $"{f.Name}=0x{f.Get(raw):x}");
        return $"{Name}(0x{raw:x16}:{string.Concat(parts.Select(p => " " + p))})";
    }
}

/// <summary>One field: bits <see cref="Hi"/>:<see cref="Lo"/>, and its members when it is an Enum.</summary>
public sealed record LayoutFieldInfo(string Name, int Hi, int Lo, IReadOnlyList<EnumMemberInfo>? Members = null)
{
    public int Width => Hi - Lo + 1;

    public ulong Mask => (Width == 64 ? ulong.MaxValue : (1UL << Width) - 1) << Lo;

    public ulong Get(ulong raw) => (raw & Mask) >> Lo;

    /// <summary>
    /// <paramref name="raw"/> with this field set to <paramref name="value"/>; a value too wide for
    /// the field is refused, as the generated With... updaters refuse it.
    /// </summary>
    public ulong With(ulong raw, ulong value)
    {
        if ((value << Lo) >> Lo != value || ((value << Lo) & ~Mask) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"{Name} is {Width} bit(s) wide");
        }

        return (raw & ~Mask) | (value << Lo);
    }

    /// <summary>The value of member <paramref name="name"/> of an Enum field.</summary>
    public ulong Member(string name) =>
        (Members ?? throw new ArgumentException($"{Name} is not an Enum field", nameof(name))).FirstOrDefault(m => m.Name == name)?.Value
            ?? throw new ArgumentException($"{Name} has no member {name}; its members are {string.Join(", ", Members.Select(m => m.Name))}", nameof(name));
}

public sealed record EnumMemberInfo(string Name, ulong Value);

/// <summary>A named value of a Constants block.</summary>
public sealed record NamedValue(string Block, string Name, ulong Value);

/// <summary>The registry of models (<see cref="All"/> is generated from spec/, as are the names in <see cref="SpecModelNames"/>).</summary>
public static partial class SpecModels
{
    public static SpecModelInfo Base => All[0];

    public static IReadOnlyList<string> Names => All.Select(m => m.Name).ToList();

    /// <summary>The model named <paramref name="name"/>, as a scenario names it.</summary>
    public static SpecModelInfo Named(string name) =>
        All.FirstOrDefault(m => m.Name == name)
            ?? throw new ArgumentException($"no model '{name}'; the models are {string.Join(", ", Names)}", nameof(name));
}
