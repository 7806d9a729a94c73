using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

internal static partial class SpecEmitter
{
    /// <summary>
    /// The names of the models as constants: a step's <c>{model}</c> parameter type lists them
    /// (<c>[ParameterType(..., WordsOf = typeof(SpecModelNames))]</c>), so an unknown model
    /// name in a feature is a build error, and a new variant is known without another edit.
    /// </summary>
    private static string EmitModelNames(ModelNamesUnit unit)
    {
        var w = Header(unit.Model, "spec/variants/", "The names of the models");
        w.Line("/// <summary>The name of every model generated from spec/: the base model and each variant.</summary>");
        using (w.Block("public static class SpecModelNames"))
        {
            w.Line("/// <summary>The newest kernel, generated from the base spec.</summary>");
            w.Line("public const string Base = \"base\";");
            foreach (var variant in unit.Variants)
            {
                w.Line();
                w.Line($"/// <summary>Variant {variant}: see <see cref=\"global::SpecKit.Mmu.Variants.{variant}.SpecModel\"/>.</summary>");
                w.Line($"public const string {variant} = {Literal(variant)};");
            }
        }

        return w.ToString();
    }
}
