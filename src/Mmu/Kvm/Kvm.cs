using SpecKit.Mmu.Host;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Shadow;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// struct kvm: what every MMU shares (virt/kvm/kvm_main.c, dirty_ring.c): memslots over the
/// process's memory, the MMU-notifier state, dirty logging (bitmap, CLEAR, ring), vCPUs with
/// their TLBs, and an x86 MMU chosen when the VM is made (<see cref="X86.MmuKind"/>: the TDP MMU
/// on EPT or NPT, or the shadow MMU), all run under one model's rules from the spec. Every change
/// is logged in kernel terms so that scenarios can snapshot what happened.
/// </summary>
public sealed partial class Kvm
{
    public const ulong InvalidGpa = ulong.MaxValue;

    public Kvm(SpecModelInfo model, MmuKind mmu = MmuKind.TdpEpt, KvmVmType vmType = KvmVmType.Default)
    {
        if (vmType == KvmVmType.Tdx && mmu != MmuKind.TdpEpt)
        {
            throw new ArgumentException("a TDX VM runs on the TDP MMU with EPT (kvm_has_mirrored_tdp needs tdp_mmu_enabled)", nameof(vmType));
        }

        Model = model;
        Rules = model.Rules;
        VmType = vmType;
        Mmu = mmu switch
        {
            MmuKind.Shadow => new ShadowMmu(this, model.Masks(SpteFormat.Legacy)),
            MmuKind.TdpNpt => new TdpMmu(this, model.Masks(SpteFormat.Legacy), MmuKind.TdpNpt),
            _ => new TdpMmu(this, model.Masks(SpteFormat.Ept), MmuKind.TdpEpt),
        };
    }

    /// <summary>The model this VM runs under: its rules and its SPTE formats.</summary>
    public SpecModelInfo Model { get; }

    public MmuRules Rules { get; }

    /// <summary>The x86 MMU this VM was made with.</summary>
    public X86Mmu Mmu { get; }

    /// <summary>The TDP MMU, for the operations only it has (roots, NX recovery, TDX); null under shadow paging.</summary>
    public TdpMmu? Tdp => Mmu as TdpMmu;

    /// <summary>The shadow MMU, for the operations only it has (shadow pages, unsync); null under TDP.</summary>
    public ShadowMmu? Shadow => Mmu as ShadowMmu;

    /// <summary>
    /// The nx_huge_pages module parameter (the iTLB multihit mitigation): huge SPTEs are not
    /// executable, and a fetch maps 4K. Off by default here, as on CPUs without the erratum.
    /// </summary>
    public bool NxHugePages { get; set; }

    /// <summary>
    /// The eptad module parameter (enable_ept_ad_bits): with it off, EPT SPTEs are A/D-disabled,
    /// aging takes R/W/X away instead of clearing A, and dirty tracking clears W instead of D.
    /// It is read when the VM's MMU is set up: set it before the first fault. NPT and shadow
    /// paging always have A/D bits.
    /// </summary>
    public bool EptAdBits
    {
        get => _eptAdBits;
        set
        {
            if (Mmu.Leaves().Any())
            {
                throw new InvalidOperationException("EPT A/D bits are chosen when the VM is made, before any SPTE exists");
            }

            // kvm_intel.eptad: NPT and shadow paging always have A/D bits (kvm_mmu_reset_all_pte_masks).
            if (!value && Mmu.Kind != MmuKind.TdpEpt)
            {
                throw new InvalidOperationException($"eptad is a kvm_intel parameter: the {Mmu.Kind} MMU always has A/D bits");
            }

            _eptAdBits = value;

            // vmx.c hardware_setup(): "if (!enable_ept || !enable_ept_ad_bits ...) enable_pml = 0".
            if (!value)
            {
                _enablePml = false;
            }
        }
    }

    private bool _eptAdBits = true;

    /// <summary>
    /// The kvm_intel pml module parameter (enable_pml), which gives kvm_x86_ops.cpu_dirty_log_size
    /// its PML_LOG_NR_ENTRIES: dirty logging clears D instead of W on 4K SPTEs and the CPU logs
    /// each write that sets D into the vCPU's PML buffer (vmx.c). vmx.c hardware_setup() turns it
    /// off without EPT or EPT A/D bits, and SVM has no cpu_dirty_log_size, so only EPT with eptad
    /// accepts it. Read when the VM's MMU is set up: set it before the first fault. Off here
    /// unless asked for.
    /// </summary>
    public bool EnablePml
    {
        get => _enablePml;
        set
        {
            if (Mmu.Leaves().Any())
            {
                throw new InvalidOperationException("PML is chosen when the VM is made, before any SPTE exists");
            }

            if (value && (Mmu.Kind != MmuKind.TdpEpt || !EptAdBits))
            {
                throw new InvalidOperationException($"pml is a kvm_intel parameter that needs EPT with A/D bits: the {Mmu.Kind} MMU{(Mmu.Kind == MmuKind.TdpEpt ? " has eptad=0" : "")}");
            }

            _enablePml = value;
        }
    }

    private bool _enablePml;

    /// <summary>The eager_page_split module parameter (default on): split huge pages when logging starts, on the ioctl thread.</summary>
    public bool EagerPageSplit { get; set; } = true;

    /// <summary>The process's address space, which memslots map.</summary>
    public HostMm Host { get; } = new();

    public List<KvmMemorySlot> Memslots { get; } = [];

    /// <summary>
    /// The memslots' generation (kvm_memslots()->generation, 19 bits in an MMIO SPTE): every
    /// change bumps it, so MMIO SPTEs cached before the change miss.
    /// </summary>
    public ulong MemslotGeneration { get; private set; }

    public List<KvmVcpu> Vcpus { get; } = [];

    /// <summary>What happened, in order: faults, notifier calls, flushes, ioctls.</summary>
    public KvmLog Log { get; } = new();

    /// <summary>Broken invariants not yet claimed by the scenario.</summary>
    public List<Violation> Violations { get; } = [];

    /// <summary>Where mmu_lock is contended, so a range operation yields there.</summary>
    public MmuContention Contention { get; } = new();

    /// <summary>Run while mmu_lock is dropped by a yielding operation: what other threads do meanwhile.</summary>
    public Queue<Action> WhileUnlocked { get; } = new();

    /// <summary>Run in a fault after the PFN is resolved and before mmu_lock is taken: the window an invalidation can race.</summary>
    public Queue<Action> BeforeFaultTakesLock { get; } = new();

    /// <summary>x86 KVM_MAX_VCPUS: CONFIG_KVM_MAX_NR_VCPUS, 1024 unless MAXSMP (arch/x86/include/asm/kvm_host.h).</summary>
    public const int KvmMaxVcpus = 1024;

    /// <summary>x86 KVM_MAX_VCPU_IDS: KVM_MAX_VCPUS * KVM_VCPU_ID_RATIO (4), as APIC IDs may be sparse.</summary>
    public const int KvmMaxVcpuIds = KvmMaxVcpus * 4;

    /// <summary>
    /// KVM_CREATE_VCPU (kvm_vm_ioctl_create_vcpu): -EINVAL for an id at or past KVM_MAX_VCPU_IDS
    /// or once KVM_MAX_VCPUS exist, -EEXIST for an id in use (kvm_get_vcpu_by_id).
    /// </summary>
    public int CreateVcpu(uint id, out KvmVcpu? vcpu)
    {
        vcpu = null;
        var refused = id >= KvmMaxVcpuIds || Vcpus.Count >= KvmMaxVcpus ? -(int)Uapi.Errno.EINVAL
            : Vcpus.Any(v => v.Id == id) ? -(int)Uapi.Errno.EEXIST
            : 0;
        if (refused != 0)
        {
            Log.Add($"KVM_CREATE_VCPU {id}: {new Uapi.KvmResult(refused)}");
            return refused;
        }

        vcpu = new KvmVcpu((int)id);
        Vcpus.Add(vcpu);
        return 0;
    }

    /// <summary>KVM_CREATE_VCPU with the next id, as a VMM that numbers its vCPUs 0, 1, ... does.</summary>
    public KvmVcpu CreateVcpu()
    {
        var id = Vcpus.Count == 0 ? 0 : Vcpus.Max(v => v.Id) + 1;
        var result = CreateVcpu((uint)id, out var vcpu);
        return vcpu ?? throw new InvalidOperationException($"KVM_CREATE_VCPU {id}: {new Uapi.KvmResult(result)}");
    }

    /// <summary>gfn_to_memslot(); a plain loop because every fault asks.</summary>
    public KvmMemorySlot? FindSlot(ulong gfn)
    {
        foreach (var slot in Memslots)
        {
            if (slot.Contains(gfn))
            {
                return slot;
            }
        }

        return null;
    }

    /// <summary>id_to_memslot().</summary>
    public KvmMemorySlot? SlotById(int id)
    {
        foreach (var slot in Memslots)
        {
            if (slot.Id == id)
            {
                return slot;
            }
        }

        return null;
    }

    /// <summary>The slot <paramref name="id"/>, for steps and tools that know it exists.</summary>
    public KvmMemorySlot Slot(int id) => SlotById(id) ?? throw new ArgumentException($"no memslot {id}", nameof(id));

    /// <summary>kvm_flush_remote_tlbs(): every vCPU drops its cached translations.</summary>
    public void FlushRemoteTlbs(string reason, string indent = "")
    {
        foreach (var vcpu in Vcpus)
        {
            vcpu.Tlb.Clear();
        }

        Log.Add($"{indent}flush remote TLBs ({reason})");
    }

    /// <summary>mark_page_dirty(): what a policy that records dirty does for a GFN it changed.</summary>
    public void MarkPageDirty(ulong gfn)
    {
        if (FindSlot(gfn) is { } slot)
        {
            MarkPageDirtyInSlot(slot, gfn);
        }
    }

    /// <summary>kvm_set_pfn_accessed(): the model keeps a count so scenarios can see that aging never calls it.</summary>
    public void MarkPageAccessed(ulong gfn)
    {
        PagesMarkedAccessed.Add(gfn);
        Log.Add($"mark page accessed gfn 0x{gfn:x}");
    }

    public HashSet<ulong> PagesMarkedAccessed { get; } = [];

    internal void MmuLockDropped(string operation, ulong gfn)
    {
        Log.Add($"{operation}: mmu_lock dropped at gfn 0x{gfn:x}");
        while (WhileUnlocked.TryDequeue(out var action))
        {
            action();
        }
    }

    /// <summary>Records a broken invariant; the scenario fails at its end unless a step claims it.</summary>
    internal void Violate(string rule, string detail)
    {
        var violation = new Violation(rule, detail);
        Violations.Add(violation);
        Log.Add("INVARIANT BROKEN: " + violation);
    }

    internal static string LevelName(int level) => level switch { 1 => "4K", 2 => "2M", 3 => "1G", _ => "L" + level };
}

/// <summary>The GFNs at which a range operation finds mmu_lock contended and yields (once each).</summary>
public sealed class MmuContention
{
    private readonly HashSet<ulong> _at = [];

    public void At(ulong gfn) => _at.Add(gfn);

    public bool ShouldYield(ulong gfn) => _at.Count > 0 && _at.Remove(gfn);
}
