using SpecKit.Features;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;

namespace SpecKit.Behaviour.Steps;

/// <summary>Steps for the fault path's module parameters (NX huge pages, EPT A/D bits, PML) and the PML log, write tracking, spurious faults, and the data guests store.</summary>
[Binding]
public sealed class FaultSteps(VmWorld world)
{
    private Kvm Kvm => world.Kvm;

    private TdpMmu Tdp => Kvm.Tdp ?? throw new InvalidOperationException($"this step asks the TDP MMU, and the VM runs {Kvm.Mmu.Kind}");

    [Given("the NX huge page mitigation is {on_off}")]
    public void NxHugePages(bool on) => Kvm.NxHugePages = on;

    [Given(@"EPT A\/D bits are {on_off}")]
    public void EptAdBits(bool on) => Kvm.EptAdBits = on;

    [Given("PML is {on_off}")]
    public void Pml(bool on) => Kvm.EnablePml = on;

    [Then("vCPU {int}'s PML log holds {}")]
    public void PmlLogHolds(int vcpu, string gfns)
    {
        var log = Kvm.Vcpus[vcpu].PmlBuffer;
        Assert.Equal(gfns, log.Count == 0 ? "nothing" : string.Join(", ", log.Select(g => $"0x{g:x}")));
    }

    [When("the NX recovery thread zaps {int} possible NX huge page(s)")]
    public void RecoverNx(int count)
    {
        if (Tdp.RecoverNxHugePages(count))
        {
            Kvm.FlushRemoteTlbs("kvm_recover_nx_huge_pages");
        }
    }

    [Then("{int} possible NX huge page(s) is/are tracked")]
    public void PossibleNxHugePages(int count) => Assert.Equal(count, Tdp.PossibleNxHugePages.Count);

    [Then("the 4K entry for gfn {gfn} holds {pfn}")]
    public void Entry4K(ulong gfn, ulong raw)
    {
        var entry = Tdp.Entry4K(gfn) ?? throw new Xunit.Sdk.XunitException($"no 4K table holds gfn 0x{gfn:x}");
        Assert.True(raw == entry, $"gfn 0x{gfn:x}'s 4K entry holds 0x{entry:x16}, not 0x{raw:x16}");
    }

    [Given("gfn {gfn} is write-tracked")]
    [When("gfn {gfn} is write-tracked")]
    public void WriteTrack(ulong gfn) => Assert.Equal(0, Kvm.WriteTrackAddGfn(gfn));

    [When("write tracking of gfn {gfn} is removed")]
    public void WriteUntrack(ulong gfn) => Assert.Equal(0, Kvm.WriteTrackRemoveGfn(gfn));

    [When("vCPU {int} takes an EPT violation on gfn {gfn} for a {access} that vCPU {int} has already fixed")]
    public void SpuriousFault(int vcpu, ulong gfn, AccessKind access, int other)
    {
        Assert.Equal(PageFaultResult.Fixed, Tdp.PageFault(world.Vcpu(other), gfn, access));
        world.LastFault = Tdp.PageFault(world.Vcpu(vcpu), gfn, access);
    }

    [Then("the fault returns {pf_result}")]
    public void FaultReturns(PageFaultResult result) => Assert.Equal(
        result,
        world.LastFault ?? throw new InvalidOperationException("no step has taken a fault whose RET_PF_* value it keeps: only 'vCPU n takes an EPT violation on gfn ... that vCPU m has already fixed' does"));

    [Given("vCPU {int} has stored {long} at gpa {gpa}")]
    [When("vCPU {int} stores {long} at gpa {gpa}")]
    public void Stores(int vcpu, long value, ulong gpa) => StoresWidth(vcpu, value, gpa, 8);

    [When("vCPU {int} runs a store of {long} to gpa {gpa}")]
    public void RunsStore(int vcpu, long value, ulong gpa) => RunsStoreOf(vcpu, 8, value, gpa);

    [When("vCPU {int} runs a {int}-byte store of {long} to gpa {gpa}")]
    public void RunsStoreOf(int vcpu, int width, long value, ulong gpa) => world.Each(b => b.Run(world, vcpu, [Uapi.GuestAccess.Write(gpa, (ulong)value, width)]));

    [Given("vCPU {int} has stored {long} at gpa {gpa} with a {int}-byte store")]
    [When("vCPU {int} stores {long} at gpa {gpa} with a {int}-byte store")]
    public void StoresWidth(int vcpu, long value, ulong gpa, int width) =>
        Assert.Equal($"done: 0x{value:x}", world.Each(b => b.Run(world, vcpu, [Uapi.GuestAccess.Write(gpa, (ulong)value, width)])));

    [Then("vCPU {int} loads {long} from gpa {gpa} with a {int}-byte load")]
    public void LoadsWidth(int vcpu, long value, ulong gpa, int width) =>
        Assert.Equal($"done: 0x{value:x}", world.Each(b => b.Run(world, vcpu, [Uapi.GuestAccess.Read(gpa, width)])));

    [Then("vCPU {int} loads {long} from gpa {gpa}")]
    public void Loads(int vcpu, long value, ulong gpa) => LoadsWidth(vcpu, value, gpa, 8);

    [When("userspace writes {long} at gpa {gpa}")]
    public void UserspaceWrites(long value, ulong gpa) => Assert.Equal("0", world.Each(b =>
        b.RegionAt(gpa) is { } region
            ? b.Vm.Memory.Write(region.UserspaceAddr + (gpa - region.GuestPhysAddr), BitConverter.GetBytes(value)).ToString()
            : $"no memslot holds gpa 0x{gpa:x}"));

    [Then("userspace reads {long} at gpa {gpa}")]
    public void UserspaceReads(long value, ulong gpa) => Assert.Equal(Hex((ulong)value), world.Each(b => b.ReadUser(gpa, 8)));

    internal static string Hex(ulong? value) => value is { } v ? $"0x{v:x}" : "(the load did not complete)";
}
