using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Shadow;

/// <summary>
/// A translation the vCPU's TLB holds for one guest virtual page: where it goes and the rights
/// of the SPTE it was filled from (non-leaf SPTEs grant everything), and whether the SPTE was
/// Dirty when filled (a write through a clean entry walks again to set D).
/// </summary>
public readonly record struct ShadowTlbEntry(ulong Gfn, ulong Pfn, bool Writable, bool User, bool Executable, bool Dirty)
{
    /// <summary>The rights as ACC_* uwx.</summary>
    public uint Access => (Writable ? (uint)Acc.ACC_WRITE_MASK : 0) | (User ? (uint)Acc.ACC_USER_MASK : 0) | (Executable ? (uint)Acc.ACC_EXEC_MASK : 0);
}

/// <summary>A #PF KVM delivered to the guest: where, and the error code.</summary>
public readonly record struct GuestPageFault(ulong Address, ulong ErrorCode)
{
    public override string ToString() => $"#PF at 0x{Address:x} ({PfErrorCode.Describe(ErrorCode)})";
}

/// <summary>
/// A vCPU under shadow paging: the guest's paging state (what kvm_mmu_role_regs and the walk
/// read), the guest-walk tables derived from it (vcpu->arch.mmu->w), its root shadow page
/// (vcpu->arch.mmu->root), and the hardware TLB keyed by guest virtual page, which holds
/// translations until a flush removes them, stale or not.
/// </summary>
public sealed class ShadowVcpu
{
    internal ShadowVcpu(int id, GuestCpuState cpu)
    {
        Id = id;
        Cpu = cpu;
        Mmu = new GuestMmu(cpu);
        HardwareMmu = new GuestMmu(HardwareState(cpu));
    }

    public int Id { get; }

    public GuestCpuState Cpu { get; private set; }

    /// <summary>The guest walk's permission and reserved-bit tables for <see cref="Cpu"/>.</summary>
    public GuestMmu Mmu { get; private set; }

    /// <summary>
    /// The CPU's own permission checks on SPTEs: KVM runs a shadow-paging guest with CR0.WP=1
    /// (vmx.c KVM_VM_CR0_ALWAYS_ON includes X86_CR0_WP) and EFER.NX=1, and emulates the guest's
    /// CR0.WP=0 in the SPTEs it makes; SMEP, SMAP and EFLAGS.AC are the guest's.
    /// </summary>
    internal GuestMmu HardwareMmu { get; private set; }

    /// <summary>vcpu->arch.mmu->root_role: the role of the root the vCPU needs for its CPU state.</summary>
    public KvmMmuPageRole RootRole => KvmMmuPageRole.ForRoot(Cpu);

    /// <summary>vcpu->arch.mmu->root: null until the next entry loads one (kvm_mmu_reload).</summary>
    public ShadowPage? Root { get; internal set; }

    /// <summary>KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the root was zapped and must be replaced before the next entry.</summary>
    internal bool RootObsolete { get; set; }

    /// <summary>The TLB: guest virtual page number -> translation.</summary>
    public Dictionary<ulong, ShadowTlbEntry> Tlb { get; } = [];

    /// <summary>Every #PF the guest took, in order.</summary>
    public List<GuestPageFault> PageFaults { get; } = [];

    /// <summary>A #PF KVM has injected and the guest has not taken yet.</summary>
    internal GuestPageFault? PendingPageFault { get; set; }

    /// <summary>How many #PFs exited to KVM's fault handler (kvm_mmu_page_fault).</summary>
    public int KvmPageFaults { get; internal set; }

    internal void SetCpu(GuestCpuState cpu)
    {
        Mmu = Mmu.WithCpu(cpu);
        HardwareMmu = HardwareMmu.WithCpu(HardwareState(cpu));
        Cpu = cpu;
    }

    private static GuestCpuState HardwareState(GuestCpuState cpu) => cpu with { Cr0Wp = true, EferNx = true, Cr4Pke = false, Pkru = 0 };
}
