using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// The VM a scenario runs (one struct kvm, whatever its MMU), under one model, shared by the
/// step classes of a scenario. Under shadow paging the guest kernel lays out its page tables
/// until a vCPU first runs; then it boots (<see cref="GuestKernel.Boot"/>) with the CPU state
/// the scenario gave, so memslots and mappings made before that are in its direct map.
/// </summary>
public sealed class VmWorld(ModelSwitch models) : IScenarioState
{
    private Kvm? _kvm;
    private GuestKernel? _guest;

    public Kvm Kvm => _kvm ?? throw new InvalidOperationException("no VM yet: start the scenario with 'Given a VM ...'");

    /// <summary>The VM, or null in scenarios that never made one.</summary>
    public Kvm? Current => _kvm;

    /// <summary>The guest kernel of a shadow-paging VM: its page tables and its direct map.</summary>
    public GuestKernel Guest => _guest ?? throw new InvalidOperationException(
        "the guest's page tables are KVM's business only under shadow paging: make the VM with 'Given a VM with n vCPUs on shadow paging'");

    /// <summary>The CPU state the vCPUs boot with under shadow paging: a 64-bit Linux guest's CR0.WP and EFER.NX unless a step says otherwise.</summary>
    public GuestCpuState BootCpu { get; set; } = new() { Cr0Wp = true, EferNx = true };

    /// <summary>The bitmap the last fetch or ring harvest produced, and the memslot it is for.</summary>
    public (KvmMemorySlot Slot, ulong[] Bitmap)? LastFetch { get; set; }

    /// <summary>What the last step that calls the fault handler itself returned; accesses through Kvm.Run do not set it.</summary>
    public PageFaultResult? LastFault { get; set; }

    /// <summary>The last guest access by virtual address (shadow paging) and what it came to.</summary>
    public GuestAccessResult? LastAccess { get; set; }

    /// <summary>What the last load a step made returned, or null when it did not complete (an exit).</summary>
    public ulong? LastLoad { get; set; }

    /// <summary>The user pages each memslot id was made over, kept after a delete: a VMM's mapping outlives its memslot.</summary>
    public Dictionary<int, ulong> UserPagesOf { get; } = [];

    public void Create(string model, int vcpus, MmuKind mmu = MmuKind.TdpEpt, int ringEntries = 0, KvmVmType vmType = KvmVmType.Default)
    {
        _kvm = new Kvm(SpecModels.Named(models.Resolve(model)), mmu, vmType);
        _guest = mmu == MmuKind.Shadow ? new GuestKernel(_kvm) : null;
        if (ringEntries > 0)
        {
            Assert.Equal(0, _kvm.EnableDirtyRing((uint)(ringEntries * KvmDirtyGfn.Size)));
        }

        for (var i = 0; i < vcpus; i++)
        {
            _kvm.CreateVcpu();
        }
    }

    /// <summary>vCPU <paramref name="id"/>, ready to run: under shadow paging the guest boots before its first vCPU runs.</summary>
    public KvmVcpu Vcpu(int id)
    {
        if (_guest is { Booted: false } guest)
        {
            guest.Boot(BootCpu);
        }

        return id < Kvm.Vcpus.Count ? Kvm.Vcpus[id] : throw new ArgumentOutOfRangeException(nameof(id), $"the VM has {Kvm.Vcpus.Count} vCPUs");
    }

    /// <summary>Whether the guest has booted (always, under TDP: the guest's tables are not KVM's).</summary>
    public bool Booted => _guest is not { Booted: false };

    /// <summary>The user pages behind gfns [<paramref name="start"/>, <paramref name="end"/>), which the host's events take; one memslot must hold them.</summary>
    public (ulong Start, ulong End) UserPages(ulong start, ulong end)
    {
        var slot = Kvm.FindSlot(start) is { } s && end <= s.EndGfn
            ? s
            : throw new InvalidOperationException($"no memslot holds all of gfns [0x{start:x}, 0x{end:x}): name a range of one memslot");
        return (slot.GfnToHvpn(start), slot.GfnToHvpn(start) + (end - start));
    }

    /// <summary>The user page behind <paramref name="gfn"/>.</summary>
    public ulong UserPage(ulong gfn) => UserPages(gfn, gfn + 1).Start;

    /// <summary>For a failure report: the SPTEs, the end of the log, and the unclaimed checker reports.</summary>
    public string? DescribeState() =>
        _kvm is { } kvm ? ModelState.Describe(kvm.Model.Name, $"the SPTEs ({kvm.Mmu.Kind})", kvm.DescribeSptes(), kvm.Log, kvm.Violations) : null;
}
