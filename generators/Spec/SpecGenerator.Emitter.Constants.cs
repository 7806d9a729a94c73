using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

internal static partial class SpecEmitter
{
    /// <summary>Named values keep the kernel's spelling, so a grep for SHADOW_NONPRESENT_VALUE finds both.</summary>
    private static string EmitConstants(ConstantsUnit unit)
    {
        var block = unit.Constants;
        var w = Header(unit.Model, block.Origin, $"Constants {block.Name}");
        w.Line($"/// <summary>{Xml(block.Title)}.</summary>");
        using (w.Block($"public static partial class {block.Name}"))
        {
            var first = true;
            foreach (var value in block.Values)
            {
                if (!first)
                {
                    w.Line();
                }

                first = false;
                w.Comment($"{value.Expression}  ({value.Source}; {value.Origin})");
                w.Line($"public const ulong {value.Name} = {Hex(value.Value)};");
            }

            if (unit.Describe)
            {
                w.Line();
                w.Line("/// <summary>The values as data, for the model registry (SpecModel.Info) and the steps that name a value.</summary>");
                w.Line("public static readonly global::SpecKit.Mmu.NamedValue[] Values =");
                w.Line("[");
                foreach (var value in block.Values)
                {
                    w.Line($"    new({Literal(block.Name)}, {Literal(value.Name)}, {value.Name}),");
                }

                w.Line("];");
            }
        }

        return w.ToString();
    }
}
