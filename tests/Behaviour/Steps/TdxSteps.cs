using SpecKit.Features;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Behaviour.Steps;

/// <summary>Steps that run a TDX VM: private and shared accesses, memory attributes, guest_memfd, roots.</summary>
[Binding]
public sealed class TdxSteps(KvmWorld world)
{
    private Kvm Kvm => world.Kvm;

    [Given("a TDX VM with {int} vCPU(s)")]
    public void ATdxVm(int vcpus) => world.Create("base", vcpus, vmType: KvmVmType.Tdx);

    [Given("a TDX VM under the {model} model with {int} vCPU(s)")]
    public void ATdxVmUnder(string model, int vcpus) => world.Create(model, vcpus, vmType: KvmVmType.Tdx);

    [Given("gfns [{gfn}, {gfn}) are private")]
    [When("gfns [{gfn}, {gfn}) are converted to private")]
    public void ToPrivate(ulong start, ulong end) => Kvm.SetMemoryAttributes(start, end, toPrivate: true);

    [When("gfns [{gfn}, {gfn}) are converted to shared")]
    public void ToShared(ulong start, ulong end) => Kvm.SetMemoryAttributes(start, end, toPrivate: false);

    [Given("vCPU {int} has written private gfn {gfn}")]
    [When("vCPU {int} writes private gfn {gfn}")]
    public void WritesPrivate(int vcpu, ulong gfn) => Kvm.Access(Kvm.Vcpus[vcpu], gfn, AccessKind.Write);

    [Given("vCPU {int} has written shared gfn {gfn}")]
    [When("vCPU {int} writes shared gfn {gfn}")]
    public void WritesShared(int vcpu, ulong gfn) => Kvm.Access(Kvm.Vcpus[vcpu], gfn | Kvm.GfnDirectBits, AccessKind.Write);

    [When("a hole is punched in guest_memfd over gfns [{gfn}, {gfn})")]
    public void PunchHole(ulong start, ulong end) => Kvm.PunchHole(start, end);

    [When("the roots are invalidated")]
    public void InvalidateRoots() => Kvm.InvalidateRoots();

    [When("the invalidated roots are zapped")]
    public void ZapInvalidatedRoots() => Kvm.ZapInvalidatedRoots();

    [Then("the S-EPT maps gfn {gfn}")]
    public void SeptMaps(ulong gfn) => Assert.True(Kvm.Mmu.External!.Leaves.ContainsKey(gfn), $"the S-EPT has no mapping for gfn 0x{gfn:x}");

    [Then("the S-EPT does not map gfn {gfn}")]
    public void SeptDoesNotMap(ulong gfn) => Assert.False(Kvm.Mmu.External!.Leaves.ContainsKey(gfn), $"the S-EPT still maps gfn 0x{gfn:x}");

    [Then("shared gfn {gfn} has an SPTE")]
    public void SharedHasSpte(ulong gfn) => Assert.NotNull(Kvm.Mmu.On(Kvm.Mmu.DirectRoot, () => Kvm.Mmu.LeafFor(gfn)));

    [Then("shared gfn {gfn} has no SPTE")]
    public void SharedHasNoSpte(ulong gfn) => Assert.Null(Kvm.Mmu.On(Kvm.Mmu.DirectRoot, () => Kvm.Mmu.LeafFor(gfn)));
}
