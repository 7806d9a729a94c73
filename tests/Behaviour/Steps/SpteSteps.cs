using System.Globalization;
using System.Reflection;
using SpecKit.Features;
using SpecKit.Mmu;

namespace SpecKit.Behaviour.Steps;

/// <summary>Steps about SPTE layouts and named values, in any generated model.</summary>
[Binding]
public sealed class SpteSteps(ScenarioContext context, ModelSwitch models)
{
    private object? _spte;

    [Then("in the {model} model {word}.{word} has the mask {pfn}")]
    public void FieldHasMask(string model, string layout, string field, ulong mask)
    {
        var actual = SpecModels.Constant(models.Resolve(model), layout, field + "Mask");
        Assert.True(actual == mask, $"{layout}.{field} in model {model}: expected mask 0x{mask:x16}, actual 0x{actual:x16}");
    }

    [Then("the models define {word} as:")]
    public void ModelsDefine(string constant, DataTable table)
    {
        foreach (var row in table.AsDictionaries())
        {
            var expected = HexParameterTypes.Pfn(row["value"]);
            var actual = SpecModels.Constant(models.Resolve(row["model"]), "SpteValues", constant);
            Assert.True(actual == expected, $"{constant} in model {row["model"]}: expected 0x{expected:x}, actual 0x{actual:x}");
        }
    }

    [Then("in every model {word} is not shadow-present")]
    public void NotShadowPresentAnywhere(string constant)
    {
        foreach (var model in SpecModels.Names)
        {
            var value = SpecModels.Constant(model, "SpteValues", constant);
            var present = SpecModels.Constant(model, "SpteValues", "SPTE_MMU_PRESENT_MASK");
            Assert.True((value & present) == 0, $"{constant} = 0x{value:x} is shadow-present in model {model}");
        }
    }

    [Given("an {word} with {}")]
    public void AnEntryWith(string layout, string fields)
    {
        var type = SpecModels.Type(models.Resolve(ModelSwitch.BaseModel), layout);
        _spte = Activator.CreateInstance(type, 0UL);
        foreach (var field in fields.Split(", "))
        {
            _spte = With(field, true);
        }
    }

    [Given("its {word} is {word}")]
    public void ItsFieldIs(string field, string value)
    {
        var method = Method(field);
        var parameter = method.GetParameters()[0].ParameterType;
        object converted = parameter.IsEnum
            ? Enum.Parse(parameter, value)
            : parameter == typeof(bool) ? bool.Parse(value) : HexParameterTypes.Pfn(value);
        _spte = method.Invoke(_spte, [converted]);
    }

    [Then("the SPTE is {pfn}")]
    public void TheSpteIs(ulong raw)
    {
        var actual = (ulong)_spte!.GetType().GetField("Raw")!.GetValue(_spte)!;
        Assert.True(actual == raw, $"expected 0x{raw:x16}, actual {_spte}");
    }

    [Then("the SPTE reads as the snapshot")]
    public void ReadsAsSnapshot() => context.Verify(_spte!.ToString()!);

    private object With(string field, bool value) => Method(field).Invoke(_spte, [value])!;

    private MethodInfo Method(string field) =>
        _spte!.GetType().GetMethod("With" + field)
            ?? throw new ArgumentException($"{_spte.GetType().Name} has no field {field}");

    internal static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
