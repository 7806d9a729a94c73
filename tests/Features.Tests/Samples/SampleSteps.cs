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

public static class Types
{
    [ParameterType("gfn", "0x[0-9a-fA-F]+")]
    public static ulong Gfn(string text) => ulong.Parse(text.Substring(2), System.Globalization.NumberStyles.HexNumber);
}

[Binding]
public sealed class VmSteps(VmContext vm)
{
    [Given("a VM with {int} vCPU(s)")]
    public void AVm(int vcpus) => vm.Vcpus = vcpus;

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
