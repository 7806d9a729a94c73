using SpecKit.Features;
using SpecKit.Kernel;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// The VM a scenario runs (one struct kvm, whatever its MMU), under one model, shared by the
/// step classes of a scenario. Under shadow paging the guest kernel lays out its page tables
/// until a vCPU first runs; then it boots (<see cref="GuestKernel.Boot"/>) with the CPU state
/// the scenario gave, so memslots and mappings made before that are in its direct map.
/// <para>
/// Userspace's operations go through the uAPI (<see cref="Backends"/>): the model behind
/// <see cref="ModelVm"/>, and in the kernel's test of a <c>@kvm</c> scenario also the real
/// kernel (and, where a host declaration applies, the model of this host), step by step in
/// lockstep, with every result recorded in <see cref="Differential"/>.
/// </para>
/// </summary>
public sealed class VmWorld(ModelSwitch models, ScenarioContext context) : IScenarioState, IDisposable
{
    public const string ModelOfThisHost = "model of this host";

    private Kvm? _kvm;
    private GuestKernel? _guest;
    private readonly List<Backend> _backends = [];
    private int _inUapi;

    /// <summary>The model, for a step that asks what only the model can show; in a kernel run the step is reported as model-only.</summary>
    public Kvm Kvm
    {
        get
        {
            var kvm = _kvm ?? throw new InvalidOperationException("no VM yet: start the scenario with 'Given a VM ...'");
            if (_inUapi == 0 && OnKernel && context.CurrentStep is { } step)
            {
                Differential.ModelOnly(StepName(step));
            }

            return kvm;
        }
    }

    /// <summary>Whether this test runs the scenario on the real kernel beside the model.</summary>
    public bool OnKernel => context.Info.Backend == "kernel";

    /// <summary>The VMs userspace drives: the model first.</summary>
    public IReadOnlyList<Backend> Backends => _backends.Count > 0 ? _backends : throw new InvalidOperationException("no VM yet: start the scenario with 'Given a VM ...'");

    public Backend Model => Backends[0];

    public Differential Differential { get; } = new();

    /// <summary>The host declarations of this scenario that apply to the kernel answering it.</summary>
    public List<HostDeclaration> Declarations { get; } = [];

    /// <summary>
    /// Runs one userspace operation on every backend, the model first, and returns the model's
    /// result, which the step checks against the scenario; the other backends' results are
    /// compared with it (<see cref="Differential.Record"/>), and an unexplained difference fails the step.
    /// </summary>
    public string Each(Func<Backend, string> operation)
    {
        _inUapi++;
        try
        {
            var results = Backends.Select(b => (b, operation(b))).ToList();
            if (OnKernel)
            {
                Differential.Record(context.CurrentStep is { } step ? StepName(step) : "(no step)", results, Declarations);
            }

            return results[0].Item2;
        }
        finally
        {
            _inUapi--;
        }
    }

    private static string StepName((string Keyword, string Text, int Line) step) => $"{step.Keyword} {step.Text}  (line {step.Line})";

    /// <summary>The VM, or null in scenarios that never made one.</summary>
    public Kvm? Current => _kvm;

    /// <summary>The guest kernel of a shadow-paging VM: its page tables and its direct map.</summary>
    public GuestKernel Guest => _guest ?? throw new InvalidOperationException(
        "the guest's page tables are KVM's business only under shadow paging: make the VM with 'Given a VM with n vCPUs on shadow paging'");

    /// <summary>The CPU state the vCPUs boot with under shadow paging: a 64-bit Linux guest's CR0.WP and EFER.NX unless a step says otherwise.</summary>
    public GuestCpuState BootCpu { get; set; } = new() { Cr0Wp = true, EferNx = true };

    /// <summary>What the last step that calls the fault handler itself returned; accesses through Kvm.Run do not set it.</summary>
    public PageFaultResult? LastFault { get; set; }

    /// <summary>The last guest access by virtual address (shadow paging) and what it came to.</summary>
    public GuestAccessResult? LastAccess { get; set; }

    /// <summary>The user pages each memslot id was made over, kept after a delete: a VMM's mapping outlives its memslot.</summary>
    public Dictionary<int, ulong> UserPagesOf { get; } = [];

    /// <summary>
    /// The scenario's one-key edits of the spec's lock policy (<c>Given the {operation} operation
    /// takes mmu_lock for {lock_side}</c>), which the VM made next runs under, as a concurrent VM
    /// does: how an explorer counterexample found under a Lock mutant names its model.
    /// </summary>
    public List<(MmuOperation Operation, MmuLock Side)> LockEdits { get; } = [];

    /// <summary>The model <paramref name="model"/> names, with <see cref="LockEdits"/> applied.</summary>
    public SpecModelInfo Edited(SpecModelInfo model)
    {
        foreach (var (operation, side) in LockEdits)
        {
            model = model with { Rules = model.Rules.With(model.Rules[operation] with { Lock = side }) };
        }

        return model;
    }

    public void Create(string model, int vcpus, MmuKind mmu = MmuKind.TdpEpt, int ringEntries = 0, KvmVmType vmType = KvmVmType.Default)
    {
        _kvm = Made(new Kvm(Edited(models.Info(model)), mmu, vmType), ringEntries, vcpus);
        _guest = mmu == MmuKind.Shadow ? new GuestKernel(_kvm) : null;
        _backends.Add(new Backend("model", new ModelVm(_kvm)));
        if (!OnKernel)
        {
            return;
        }

        var kernel = KernelKvm.Instance ?? throw new InvalidOperationException("the kernel backend cannot run: " + KernelKvm.UnavailableReason);
        var vm = kernel.CreateVm().Value;
        var backend = new Backend("kernel", vm);
        _backends.Add(backend);
        if (ringEntries > 0)
        {
            Assert.Equal(KvmResult.Ok(), vm.EnableCap(KvmCap.DirtyLogRing, (ulong)(ringEntries * KvmDirtyGfn.Size)));
        }

        for (var i = 0; i < vcpus; i++)
        {
            backend.Vcpus[(uint)i] = vm.CreateVcpu((uint)i).Value;
        }

        Declarations.AddRange(HostDeclaration.All.Where(d => context.Info.Tags.Contains(d.Tag) && d.Applies(vm)));
        if (Declarations.Count > 0)
        {
            var modelOfHost = new Kvm(_kvm.Model, mmu, vmType);
            foreach (var declaration in Declarations)
            {
                declaration.ModelTheHost(modelOfHost);
            }

            _backends.Add(new Backend(ModelOfThisHost, new ModelVm(Made(modelOfHost, ringEntries, vcpus))));
        }

        Differential.Header =
        [
            $"Differential report: {context.Info.FeatureFile}:{context.Info.ExampleLine ?? context.Info.Line}  {context.Info.DisplayName}",
            .. _backends.Select(b => $"{b.Name}: {Describe(b.Vm.Host, b.IsModel)}"),
        ];
        Each(b => $"a VM with {vcpus} vCPU(s){(ringEntries > 0 ? $" and a {ringEntries}-entry dirty ring" : "")}");
    }

    /// <summary>A host's traits for the report, without the kernel release (the snapshot holds for every build of a host kind).</summary>
    private static string Describe(HostTraits host, bool model) =>
        (model ? host.Description + "; " : "")
        + $"dirty events {host.DirtyEvents}, host faults {host.HostFaults}, pages_4k/2m/1g count mappings: {(host.StatsCountMappedPages ? "yes" : "no")}, ring reserve {host.DirtyRingReservedEntries}"
        + (host.TdpMmu is { } tdp ? $", tdp_mmu={(tdp ? 'Y' : 'N')}" : "");

    private static Kvm Made(Kvm kvm, int ringEntries, int vcpus)
    {
        if (ringEntries > 0)
        {
            Assert.Equal(0, kvm.EnableDirtyRing((uint)(ringEntries * KvmDirtyGfn.Size)));
        }

        for (var i = 0; i < vcpus; i++)
        {
            kvm.CreateVcpu();
        }

        return kvm;
    }

    public void Dispose()
    {
        foreach (var backend in _backends)
        {
            backend.Dispose();
        }
    }

    /// <summary>vCPU <paramref name="id"/>, ready to run: under shadow paging the guest boots before its first vCPU runs.</summary>
    public KvmVcpu Vcpu(int id)
    {
        if (_guest is { Booted: false } guest)
        {
            guest.Boot(BootCpu);
        }

        var kvm = _kvm ?? throw new InvalidOperationException("no VM yet: start the scenario with 'Given a VM ...'");
        return id < kvm.Vcpus.Count ? kvm.Vcpus[id] : throw new ArgumentOutOfRangeException(nameof(id), $"the VM has {kvm.Vcpus.Count} vCPUs");
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
        _kvm is { } kvm ? ModelState.Describe(context.ComparedModel ?? kvm.Model.Name, $"the SPTEs ({kvm.Mmu.Kind})", kvm.DescribeSptes(), kvm.Log, kvm.Violations) : null;
}
