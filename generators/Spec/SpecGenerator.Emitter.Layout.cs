using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

internal static partial class SpecEmitter
{
    /// <summary>
    /// A layout becomes a readonly struct over the raw 64 bits: a const mask and shift per
    /// field, a getter, and a With... updater that returns a new entry, as tock-registers
    /// and the kernel's FIELD_GET/FIELD_PREP do.
    /// </summary>
    private static string EmitLayout(LayoutUnit unit)
    {
        var layout = unit.Layout;
        var name = layout.Name;
        var w = Header(unit.Model, layout.Origin, $"Layout {name}");
        var reserved = layout.Fields.Where(f => f.Kind == FieldKind.Reserved).Aggregate(0UL, (m, f) => m | f.Mask);
        var ignored = layout.Fields.Where(f => f.Kind == FieldKind.Ignored).Aggregate(0UL, (m, f) => m | f.Mask);
        var named = layout.Fields.Where(f => f.Kind is FieldKind.Field or FieldKind.Enum).ToList();

        w.Line($"/// <summary>{Xml(layout.Title)}.</summary>");
        w.Line("/// <remarks>");
        foreach (var field in layout.Fields)
        {
            var label = field.Kind is FieldKind.Reserved or FieldKind.Ignored ? field.Kind.ToString() : field.Name;
            w.Line($"/// {field.Bits,-11} {label,-16} {Xml(field.Source)}<br/>");
        }

        w.Line("/// </remarks>");
        w.Line("[global::System.Diagnostics.DebuggerDisplay(\"{ToString(),nq}\")]");
        using (w.Block($"public readonly partial struct {name} : global::System.IEquatable<{name}>"))
        {
            w.Line("/// <summary>The entry's 64 bits exactly as the page table holds them.</summary>");
            w.Line("public readonly ulong Raw;");
            w.Line();
            w.Line($"public {name}(ulong raw) => Raw = raw;");
            w.Line();
            w.Line("/// <summary>Reserved bits: must be zero.</summary>");
            w.Line($"public const ulong ReservedMask = {Hex(reserved)};");
            w.Line();
            w.Line("/// <summary>Bits the hardware ignores and KVM leaves unused.</summary>");
            w.Line($"public const ulong IgnoredMask = {Hex(ignored)};");

            foreach (var field in named)
            {
                w.Line();
                EmitField(w, name, field);
            }

            if (unit.Describe)
            {
                w.Line();
                w.Line("/// <summary>The named fields as data, for the model registry (SpecModel.Info) and the steps that name a field.</summary>");
                w.Line("public static readonly global::SpecKit.Mmu.LayoutInfo Layout = new(");
                w.Line($"    {Literal(name)},");
                w.Line("    [");
                foreach (var field in named)
                {
                    var members = field.Members.Count > 0
                        ? ", [" + string.Join(", ", field.Members.Select(m => $"new({Literal(m.Name)}, {m.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)})")) + "]"
                        : "";
                    w.Line($"        new({Literal(field.Name)}, {Int(field.Hi)}, {Int(field.Lo)}{members}),");
                }

                w.Line("    ]);");
            }

            w.Line();
            w.Line($"/// <summary>The fields that are set, for logs and snapshots: e.g. <c>{name}(0x...: Readable Pfn=0x1234)</c>.</summary>");
            using (w.Block("public override string ToString()"))
            {
                w.Line("var text = new global::System.Text.StringBuilder();");
                w.Line($"text.Append(\"{name}(0x\").Append(Raw.ToString(\"x16\", global::System.Globalization.CultureInfo.InvariantCulture)).Append(':');");
                foreach (var field in named.OrderBy(f => f.Lo))
                {
                    if (field.Kind == FieldKind.Enum)
                    {
                        w.Line($"text.Append(\" {field.Name}=\").Append({field.Name});");
                    }
                    else if (field.Width == 1)
                    {
                        w.Line($"if ({field.Name}) text.Append(\" {field.Name}\");");
                    }
                    else
                    {
                        w.Line($"if ({field.Name} != 0) text.Append(\" {field.Name}=0x\").Append({field.Name}.ToString(\"x\", global::System.Globalization.CultureInfo.InvariantCulture));");
                    }
                }

                w.Line("if ((Raw & ReservedMask) != 0) text.Append(\" Reserved=0x\").Append((Raw & ReservedMask).ToString(\"x\", global::System.Globalization.CultureInfo.InvariantCulture));");
                w.Line("return text.Append(')').ToString();");
            }

            w.Line();
            w.Line($"public bool Equals({name} other) => Raw == other.Raw;");
            w.Line();
            w.Line($"public override bool Equals(object? obj) => obj is {name} other && Raw == other.Raw;");
            w.Line();
            w.Line("public override int GetHashCode() => Raw.GetHashCode();");
            w.Line();
            w.Line($"public static bool operator ==({name} left, {name} right) => left.Raw == right.Raw;");
            w.Line();
            w.Line($"public static bool operator !=({name} left, {name} right) => left.Raw != right.Raw;");
            w.Line();
            w.Line($"public static explicit operator ulong({name} entry) => entry.Raw;");
            w.Line();
            w.Line($"public static explicit operator {name}(ulong raw) => new(raw);");
        }

        foreach (var field in named.Where(f => f.Kind == FieldKind.Enum))
        {
            w.Line();
            w.Line($"/// <summary>Values of {name}.{field.Name} ({field.Bits}): {Xml(field.Source)}.</summary>");
            using (w.Block($"public enum {name}{field.Name} : {(field.Width <= 8 ? "byte" : "ulong")}"))
            {
                foreach (var member in field.Members)
                {
                    w.Line($"{member.Name} = {member.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)},");
                }
            }
        }

        return w.ToString();
    }

    private static void EmitField(IndentedWriter w, string layout, FieldModel field)
    {
        var f = field.Name;
        w.Comment($"{field.Bits}: {field.Source}");
        w.Line($"public const int {f}Shift = {Int(field.Lo)};");
        w.Line($"public const ulong {f}Mask = {Hex(field.Mask)};");
        if (field.Kind == FieldKind.Enum)
        {
            var type = layout + f;
            w.Line($"public {type} {f} => ({type})((Raw & {f}Mask) >> {f}Shift);");
            w.Line($"public {layout} With{f}({type} value) => new((Raw & ~{f}Mask) | (((ulong)value << {f}Shift) & {f}Mask));");
        }
        else if (field.Width == 1)
        {
            w.Line($"public bool {f} => (Raw & {f}Mask) != 0;");
            w.Line($"public {layout} With{f}(bool value) => new(value ? Raw | {f}Mask : Raw & ~{f}Mask);");
        }
        else
        {
            w.Line($"public const int {f}Width = {Int(field.Width)};");
            w.Line($"public ulong {f} => (Raw & {f}Mask) >> {f}Shift;");
            w.Line();
            w.Line($"/// <summary>Sets {f}; a value wider than {Int(field.Width)} bits is a bug in the caller, not something to truncate silently.</summary>");
            using (w.Block($"public {layout} With{f}(ulong value)"))
            {
                if (field.Width < 64)
                {
                    w.Line($"if ((value >> {f}Width) != 0) throw new global::System.ArgumentOutOfRangeException(nameof(value), value, \"{layout}.{f} is {field.Bits}\");");
                }

                w.Line($"return new((Raw & ~{f}Mask) | (value << {f}Shift));");
            }
        }
    }
}
