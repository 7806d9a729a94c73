using SpecKit.Mmu.Host;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// struct kvm: memslots over host memory, the TDP MMU, vCPUs with TLBs, the MMU-notifier state
/// and the dirty log, all run under one model's <see cref="MmuRules"/> from the spec. Every
/// change is logged in kernel terms so that scenarios can snapshot what happened.
/// </summary>
public sealed partial class Kvm
{
    public const ulong InvalidGpa = ulong.MaxValue;

    public Kvm(MmuRules rules, KvmVmType vmType = KvmVmType.Default)
    {
        Rules = rules;
        VmType = vmType;
        Mmu = new TdpMmu(this);
        if (IsMirrored)
        {
            Mmu.AllocMirrorRoot();
        }
    }

    public MmuRules Rules { get; }

    /// <summary>
    /// The nx_huge_pages module parameter (the iTLB multihit mitigation): huge SPTEs are not
    /// executable, and a fetch maps 4K. Off by default here, as on CPUs without the erratum.
    /// </summary>
    public bool NxHugePages { get; set; }

    /// <summary>
    /// The eptad module parameter (enable_ept_ad_bits): with it off, SPTEs are A/D-disabled, aging
    /// takes R/W/X away instead of clearing A, and dirty tracking clears W instead of D. Set it
    /// before the first fault: SPTEs keep the mode they were made with.
    /// </summary>
    public bool EptAdBits
    {
        get => _eptAdBits;
        set
        {
            if (Mmu.Tables.LiveTables > 1)
            {
                throw new InvalidOperationException("EPT A/D bits are chosen when the VM is made, before any SPTE exists");
            }

            _eptAdBits = value;
        }
    }

    private bool _eptAdBits = true;

    public HostMm Host { get; } = new();

    public TdpMmu Mmu { get; }

    public List<KvmMemorySlot> Memslots { get; } = [];

    /// <summary>
    /// The memslots' generation (kvm_memslots()->generation, 19 bits in an MMIO SPTE): every
    /// change bumps it, so MMIO SPTEs cached before the change miss.
    /// </summary>
    public ulong MemslotGeneration { get; private set; }

    public List<KvmVcpu> Vcpus { get; } = [];

    /// <summary>What happened, in order: faults, notifier calls, flushes, ioctls.</summary>
    public List<string> Log { get; } = [];

    /// <summary>Broken invariants not yet claimed by the scenario.</summary>
    public List<Violation> Violations { get; } = [];

    /// <summary>Where mmu_lock is contended, so a range operation yields there.</summary>
    public MmuContention Contention { get; } = new();

    /// <summary>Run while mmu_lock is dropped by a yielding operation: what other threads do meanwhile.</summary>
    public Queue<Action> WhileUnlocked { get; } = new();

    /// <summary>Run in a fault after the PFN is resolved and before mmu_lock is taken: the window an invalidation can race.</summary>
    public Queue<Action> BeforeFaultTakesLock { get; } = new();

    public KvmVcpu CreateVcpu()
    {
        var vcpu = new KvmVcpu(Vcpus.Count);
        Vcpus.Add(vcpu);
        return vcpu;
    }

    /// <summary>KVM_SET_USER_MEMORY_REGION: a new slot, its host memory mapped with <paramref name="hostLevel"/> pages.</summary>
    public KvmMemorySlot CreateMemslot(int id, ulong baseGfn, ulong npages, MemslotFlags flags, int hostLevel)
    {
        var slot = new KvmMemorySlot(id, baseGfn, npages, MemslotFlags.None);
        Memslots.Add(slot);
        MemslotGeneration++;
        Host.Populate(baseGfn, npages, hostLevel);
        Log.Add($"memslot {id}: gfn 0x{baseGfn:x}..0x{baseGfn + npages - 1:x}, host pages {LevelName(hostLevel)}");
        if (flags != MemslotFlags.None)
        {
            SetMemslotFlags(id, flags);
        }

        return slot;
    }

    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION with size 0: kvm_arch_flush_shadow_memslot() zaps the slot's
    /// SPTEs and flushes before the slot goes; its host memory stays with the process.
    /// </summary>
    public void DeleteMemslot(int id)
    {
        var slot = Slot(id);

        // kvm_arch_flush_shadow_memslot(): a TDX VM zaps both aliases (KVM_FILTER_PRIVATE |
        // KVM_FILTER_SHARED, under the model's design); the model's default VM zaps the slot's leaves.
        var flush = IsMirrored
            ? UnmapGfnRange(slot.BaseGfn, slot.BaseGfn + slot.Npages, Tdx.UnmapCaller.MemslotZap, null)
            : Mmu.ZapLeafs(slot.BaseGfn, slot.BaseGfn + slot.Npages, flush: false);
        if (flush)
        {
            FlushRemoteTlbs($"memslot {id} deleted");
        }

        Memslots.Remove(slot);
        MemslotGeneration++;
        Log.Add($"memslot {id} deleted");
        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>KVM_MR_MOVE: like a delete and a create at the new base, backed by the same host pages.</summary>
    public void MoveMemslot(int id, ulong newBaseGfn)
    {
        var slot = Slot(id);
        DeleteMemslot(id);
        for (ulong i = 0; i < slot.Npages; i++)
        {
            Host.Set(newBaseGfn + i, Host.Lookup(slot.BaseGfn + i));
        }

        var moved = new KvmMemorySlot(id, newBaseGfn, slot.Npages, slot.Flags);
        Memslots.Add(moved);
        MemslotGeneration++;
        Log.Add($"memslot {id} moved to gfn 0x{newBaseGfn:x}");
    }

    /// <summary>The mm is going away (.release): kvm_flush_shadow_all() zaps everything.</summary>
    public void Release()
    {
        if (Mmu.ZapRoot())
        {
            FlushRemoteTlbs("release");
        }

        Log.Add("mmu notifier release: all SPTEs zapped");
        AfterOperation("release");
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

    public KvmMemorySlot Slot(int id) => Memslots.FirstOrDefault(s => s.Id == id) ?? throw new ArgumentException($"no memslot {id}");

    /// <summary>kvm_flush_remote_tlbs(): every vCPU drops its cached translations.</summary>
    public void FlushRemoteTlbs(string reason)
    {
        foreach (var vcpu in Vcpus)
        {
            vcpu.Tlb.Clear();
        }

        Log.Add($"flush remote TLBs ({reason})");
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

    public bool ShouldYield(ulong gfn) => _at.Remove(gfn);
}
