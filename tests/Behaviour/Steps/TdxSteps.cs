using SpecKit.Features;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;

namespace SpecKit.Behaviour.Steps;

/// <summary>Steps that run a TDX VM: private and shared accesses, memory attributes, guest_memfd, roots.</summary>
[Binding]
public sealed class TdxSteps(VmWorld world)
{
    private Kvm Kvm => world.Kvm;

    private TdpMmu Tdp => Kvm.Tdp!;

    [Given("a TDX VM with {int} vCPU(s)")]
    public void ATdxVm(int vcpus) => world.Create(ModelSwitch.BaseModel, vcpus, vmType: KvmVmType.Tdx);

    [Given("a TDX VM under the {model} model with {int} vCPU(s)")]
    public void ATdxVmUnder(string model, int vcpus) => world.Create(model, vcpus, vmType: KvmVmType.Tdx);

    [Given("gfns [{gfn}, {gfn}) are private")]
    [When("gfns [{gfn}, {gfn}) are converted to private")]
    public void ToPrivate(ulong start, ulong end) => Assert.Equal(0, Kvm.SetMemoryAttributes(start << 12, (end - start) << 12, Kvm.KvmMemoryAttributePrivate));

    [When("gfns [{gfn}, {gfn}) are converted to shared")]
    public void ToShared(ulong start, ulong end) => Assert.Equal(0, Kvm.SetMemoryAttributes(start << 12, (end - start) << 12, 0));

    [Then("KVM_SET_MEMORY_ATTRIBUTES over {int} bytes at gpa {gpa} with attributes {pfn} returns {errno}")]
    public void SetAttributesReturns(ulong size, ulong gpa, ulong attributes, int expected) =>
        Assert.Equal(new Uapi.KvmResult(expected).ToString(), world.Each(b => b.Vm.SetMemoryAttributes(gpa, size, attributes).ToString()));

    [Given("vCPU {int} has written private gfn {gfn}")]
    [When("vCPU {int} writes private gfn {gfn}")]
    public void WritesPrivate(int vcpu, ulong gfn) => Kvm.Access(world.Vcpu(vcpu), gfn, AccessKind.Write);

    [Given("vCPU {int} has written shared gfn {gfn}")]
    [When("vCPU {int} writes shared gfn {gfn}")]
    public void WritesShared(int vcpu, ulong gfn) => Kvm.Access(world.Vcpu(vcpu), gfn | Kvm.GfnDirectBits, AccessKind.Write);

    [When("a hole is punched in guest_memfd over gfns [{gfn}, {gfn})")]
    public void PunchHole(ulong start, ulong end) => Kvm.PunchHole(start, end);

    [When("the roots are invalidated")]
    public void InvalidateRoots() => Tdp.InvalidateRoots();

    [When("the invalidated roots are zapped")]
    public void ZapInvalidatedRoots() => Tdp.ZapInvalidatedRoots();

    [Then("the S-EPT maps gfn {gfn}")]
    public void SeptMaps(ulong gfn) => Assert.True(Tdp.External!.Leaves.ContainsKey(gfn), $"the S-EPT has no mapping for gfn 0x{gfn:x}");

    [Then("the S-EPT does not map gfn {gfn}")]
    public void SeptDoesNotMap(ulong gfn) => Assert.False(Tdp.External!.Leaves.ContainsKey(gfn), $"the S-EPT still maps gfn 0x{gfn:x}");

    [Then("shared gfn {gfn} has an SPTE")]
    public void SharedHasSpte(ulong gfn) => Assert.NotNull(Tdp.On(Tdp.DirectRoot, () => Tdp.LeafFor(gfn)));

    [Then("shared gfn {gfn} has no SPTE")]
    public void SharedHasNoSpte(ulong gfn) => Assert.Null(Tdp.On(Tdp.DirectRoot, () => Tdp.LeafFor(gfn)));
}
