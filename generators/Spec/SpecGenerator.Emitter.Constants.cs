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
        }

        return w.ToString();
    }
}
