// Step definitions the generator tests bind against. Compiled in memory by the tests
// (this folder is excluded from the test project's own build).
using SpecKit.Features;

namespace Sample.Steps;

public enum Level
{
    Pte,
    Pde,
    Pdpte,
}

public sealed class VmContext : System.IDisposable
{
    public int Vcpus { get; set; }

    public void Dispose()
    {
    }
}

/// <summary>The models a step may name, as the spec generator's SpecModelNames lists them.</summary>
public static class Models
{
    public const string Base = "base";

    public const string Patched = "Patched";
}

public static class Types
{
    [ParameterType("gfn", "0x[0-9a-fA-F]+")]
    public static ulong Gfn(string text) => ulong.Parse(text.Substring(2), System.Globalization.NumberStyles.HexNumber);

    [ParameterType("small_gfn", "0x[0-9a-fA-F_]+|[0-9]+", Integer = true, Max = 0xfffff, Description = "a GFN below 1M")]
    public static ulong SmallGfn(string text) => ulong.Parse(text.Replace("_", "").Substring(2), System.Globalization.NumberStyles.HexNumber);

    [ParameterType("on_off", @"\S+", Words = ["on", "off"])]
    public static bool OnOff(string text) => text == "on";

    [ParameterType("model", @"\S+", WordsOf = typeof(Models), Description = "a model")]
    public static string Model(string text) => text;

    [ParameterType("level_name", @"\S+", WordsOf = typeof(Level))]
    public static Level LevelName(string text) => System.Enum.Parse<Level>(text);
}

[Binding]
public sealed class VmSteps(VmContext vm)
{
    [Given("a VM with {int} vCPU(s)")]
    public void AVm(int vcpus) => vm.Vcpus = vcpus;

    [Given("a VM under the {model} model")]
    public void Under(string model)
    {
    }

    [Given("eager page splitting is {on_off}")]
    public void EagerSplit(bool on)
    {
    }

    [When("gfn {small_gfn} is touched at {level_name}")]
    public void Touch(ulong gfn, Level level)
    {
    }

    [Given("memslot {word} at gfn {gfn}")]
    public void Memslot(string name, ulong gfn)
    {
    }

    [When("vCPU {int} writes {string} to gfn {gfn}")]
    public void Writes(int vcpu, string value, ulong gfn)
    {
    }

    [When("the range is zapped at level {word}")]
    public void Zap(Level level)
    {
    }

    [When(Regex = @"^the guest runs for (\d+) ms$")]
    public void Runs(int ms)
    {
    }

    [Then("the dirty log is:")]
    public void DirtyLog(DataTable table)
    {
    }

    [Then("the SPTE tree is:")]
    public void Tree(DocString text)
    {
    }

    [Then("byte {int} is set")]
    public void ByteSet(byte value)
    {
    }

    [Then("the count is {int}")]
    public void CountWithoutParameter()
    {
    }

    [Then("nothing is flushed")]
    public static void NothingFlushed()
    {
    }

    [BeforeScenario]
    public void Reset()
    {
    }

    [AfterScenario("dirty-log")]
    public void CheckLog()
    {
    }
}

[Binding]
public sealed class AmbiguousSteps
{
    [Then("the log is {word}")]
    public void LogIsWord(string word)
    {
    }

    [Then("the log is empty")]
    public void LogIsEmpty()
    {
    }
}
