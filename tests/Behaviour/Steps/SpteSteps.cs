using System.Globalization;
using SpecKit.Features;
using SpecKit.Mmu;

namespace SpecKit.Behaviour.Steps;

/// <summary>Steps about SPTE layouts and named values, in any generated model, read from the model registry.</summary>
[Binding]
public sealed class SpteSteps(ScenarioContext context, ModelSwitch models)
{
    private LayoutInfo? _layout;
    private ulong _spte;

    private LayoutInfo Layout => _layout ?? throw new InvalidOperationException("no entry yet: start with 'Given an <Layout> with ...'");

    [Then("in the {model} model {word}.{word} has the mask {pfn}")]
    public void FieldHasMask(string model, string layout, string field, ulong mask)
    {
        var actual = models.Info(model).Layout(layout).Field(field).Mask;
        Assert.True(actual == mask, $"{layout}.{field} in model {model}: expected mask 0x{mask:x16}, actual 0x{actual:x16}");
    }

    [Then("the models define {word} as:")]
    public void ModelsDefine(string constant, DataTable table)
    {
        foreach (var row in table.AsDictionaries())
        {
            var expected = ParameterTypes.Pfn(row["value"]);
            var actual = models.Info(row["model"]).Value("SpteValues", constant);
            Assert.True(actual == expected, $"{constant} in model {row["model"]}: expected 0x{expected:x}, actual 0x{actual:x}");
        }
    }

    [Then("in every model {word} is not shadow-present")]
    public void NotShadowPresentAnywhere(string constant)
    {
        foreach (var model in models.Every())
        {
            var value = model.Value("SpteValues", constant);
            var present = model.Value("SpteValues", "SPTE_MMU_PRESENT_MASK");
            Assert.True((value & present) == 0, $"{constant} = 0x{value:x} is shadow-present in model {model}");
        }
    }

    [Given("an {word} with {}")]
    public void AnEntryWith(string layout, string fields)
    {
        _layout = models.Info(ModelSwitch.BaseModel).Layout(layout);
        _spte = 0;
        foreach (var field in fields.Split(", "))
        {
            _spte = Layout.Field(field).With(_spte, 1);
        }
    }

    [Given("its {word} is {word}")]
    public void ItsFieldIs(string name, string value)
    {
        var field = Layout.Field(name);
        _spte = field.With(_spte, field.Members is null ? ParameterTypes.Pfn(value) : field.Member(value));
    }

    [Then("the SPTE is {pfn}")]
    public void TheSpteIs(ulong raw) => Assert.True(_spte == raw, $"expected 0x{raw:x16}, actual {Layout.Describe(_spte)}");

    [Then("the SPTE reads as the snapshot")]
    public void ReadsAsSnapshot() => context.Verify(Layout.Describe(_spte));

    internal static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
