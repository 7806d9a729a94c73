using SpecKit.Features;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Behaviour.Steps;

/// <summary>Steps for fetches and the NX huge page mitigation, EPT A/D bits, write tracking, and the data guests store.</summary>
[Binding]
public sealed class FaultSteps(KvmWorld world)
{
    private Kvm Kvm => world.Kvm;

    [Given("the NX huge page mitigation is {on_off}")]
    public void NxHugePages(bool on) => Kvm.NxHugePages = on;

    [Given(@"EPT A\/D bits are {on_off}")]
    public void EptAdBits(bool on) => Kvm.EptAdBits = on;

    [Then("test_young finds gfns [{gfn}, {gfn}) {young_old}")]
    public void TestYoung(ulong start, ulong end, string expected) =>
        Assert.Equal(expected, Kvm.Age(start, end, "test_young") ? "young" : "old");

    [When("the host swaps out gfns [{gfn}, {gfn})")]
    public void SwapOut(ulong start, ulong end) => Kvm.SwapOut(start, end);

    [Given("vCPU {int} has fetched from gfn {gfn}")]
    [When("vCPU {int} fetches from gfn {gfn}")]
    public void Fetches(int vcpu, ulong gfn) => Kvm.Access(Kvm.Vcpus[vcpu], gfn, AccessKind.Fetch);

    [When("the NX recovery thread zaps {int} possible NX huge page(s)")]
    public void RecoverNx(int count)
    {
        if (Kvm.Mmu.RecoverNxHugePages(count))
        {
            Kvm.FlushRemoteTlbs("kvm_recover_nx_huge_pages");
        }
    }

    [Then("{int} possible NX huge page(s) is/are tracked")]
    public void PossibleNxHugePages(int count) => Assert.Equal(count, Kvm.Mmu.PossibleNxHugePages.Count);

    [Given("gfn {gfn} is write-tracked")]
    [When("gfn {gfn} is write-tracked")]
    public void WriteTrack(ulong gfn) => Kvm.WriteTrackAddGfn(gfn);

    [When("write tracking of gfn {gfn} is removed")]
    public void WriteUntrack(ulong gfn) => Kvm.WriteTrackRemoveGfn(gfn);

    [Given("vCPU {int} has stored {long} at gpa {gpa}")]
    [When("vCPU {int} stores {long} at gpa {gpa}")]
    public void Stores(int vcpu, long value, ulong gpa) =>
        Assert.True(Kvm.WriteGuest(Kvm.Vcpus[vcpu], gpa, (ulong)value), $"vCPU {vcpu}'s store to gpa 0x{gpa:x} did not complete");

    [Then("vCPU {int} loads {long} from gpa {gpa}")]
    public void Loads(int vcpu, long value, ulong gpa) => Assert.Equal(KvmSteps.Hex((ulong)value), Hex(Kvm.ReadGuest(Kvm.Vcpus[vcpu], gpa)));

    [Then("userspace reads {long} at gpa {gpa}")]
    public void UserspaceReads(long value, ulong gpa) => Assert.Equal(KvmSteps.Hex((ulong)value), KvmSteps.Hex(Kvm.ReadHost(gpa)));

    private static string Hex(ulong? value) => value is { } v ? KvmSteps.Hex(v) : "(the load did not complete)";
}
