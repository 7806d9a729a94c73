using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// A translation the vCPU's TLB holds for one page: the guest frame and host page it goes to,
/// and the rights of the SPTE it was filled from (under shadow paging, the guest's too), and
/// whether that SPTE was Dirty, since a write through a clean entry walks again to set D.
/// </summary>
public readonly record struct TlbEntry(ulong Gfn, ulong Pfn, bool Writable, bool User, bool Executable, bool Dirty)
{
    public bool Allows(AccessKind access) => access switch
    {
        AccessKind.Write => Writable && Dirty,
        AccessKind.Fetch => Executable,
        _ => true,
    };

    /// <summary>The rights as ACC_* uwx.</summary>
    public uint Access => (Writable ? (uint)Acc.ACC_WRITE_MASK : 0) | (User ? (uint)Acc.ACC_USER_MASK : 0) | (Executable ? (uint)Acc.ACC_EXEC_MASK : 0);
}

/// <summary>What a vCPU does to a page: an EPT violation's exit qualification names the same three.</summary>
public enum AccessKind
{
    Read,
    Write,
    Fetch,
}

public static class AccessKinds
{
    /// <summary>The access in the log: "writes", "reads", "fetches from".</summary>
    public static string Verb(this AccessKind access) => access switch
    {
        AccessKind.Write => "writes",
        AccessKind.Fetch => "fetches from",
        _ => "reads",
    };
}

/// <summary>
/// A vCPU: its hardware TLB (page -&gt; translation: by guest frame under TDP, by guest virtual
/// page under shadow paging), the paging state userspace set with KVM_SET_SREGS (what the shadow
/// MMU reads), why KVM_RUN last returned, and the state the shadow MMU keeps per vCPU.
/// </summary>
public sealed class KvmVcpu
{
    internal KvmVcpu(int id)
    {
        Id = id;
        SetCpu(new GuestCpuState { Cr0Wp = true, EferNx = true });
    }

    public int Id { get; }

    public Dictionary<ulong, TlbEntry> Tlb { get; } = [];

    /// <summary>PML_LOG_NR_ENTRIES (vmx.h): the PML log is one page of 512 GPAs.</summary>
    public const int PmlLogNrEntries = 512;

    /// <summary>
    /// The vCPU's PML log, in the order the CPU wrote it: the gfns whose D bit the CPU set since
    /// the last vmx_flush_pml_buffer(), not yet in the dirty bitmap or ring.
    /// </summary>
    public List<ulong> PmlBuffer { get; } = [];

    public bool Paused { get; set; }

    /// <summary>Why KVM_RUN last returned to userspace, if it did (KVM_EXIT_DIRTY_RING_FULL, KVM_EXIT_MMIO, -EFAULT, ...).</summary>
    public string? LastExit { get; set; }

    /// <summary>The KVM_EXIT_MMIO of the last access, when it exited for one.</summary>
    public MmioExit? LastMmio { get; set; }

    /// <summary>The guest's paging state: CR0, CR3, CR4, EFER, as KVM_SET_SREGS and guest writes leave them.</summary>
    public GuestCpuState Cpu { get; private set; } = null!;

    /// <summary>The guest walk's permission and reserved-bit tables for <see cref="Cpu"/> (vcpu->arch.mmu's).</summary>
    public GuestMmu Mmu { get; private set; } = null!;

    /// <summary>
    /// The CPU's own permission checks on SPTEs under shadow paging: KVM runs the guest with
    /// CR0.WP=1 (vmx.c KVM_VM_CR0_ALWAYS_ON includes X86_CR0_WP) and EFER.NX=1, and emulates the
    /// guest's CR0.WP=0 in the SPTEs it makes; SMEP, SMAP and EFLAGS.AC are the guest's.
    /// </summary>
    public GuestMmu HardwareMmu { get; private set; } = null!;

    /// <summary>Every #PF the guest took, in order.</summary>
    public List<GuestPageFault> PageFaults { get; } = [];

    /// <summary>A #PF KVM has injected and the guest has not taken yet.</summary>
    internal GuestPageFault? PendingPageFault { get; set; }

    /// <summary>How many faults exited to KVM's handler (kvm_mmu_page_fault).</summary>
    public int KvmPageFaults { get; internal set; }

    /// <summary>The shadow MMU's per-vCPU state (its root), or null under TDP.</summary>
    public Shadow.ShadowVcpuMmu? ShadowMmu { get; internal set; }

    internal void SetCpu(GuestCpuState cpu)
    {
        Mmu = Mmu is null ? new GuestMmu(cpu) : Mmu.WithCpu(cpu);
        var hardware = cpu with { Cr0Wp = true, EferNx = true, Cr4Pke = false, Pkru = 0 };
        HardwareMmu = HardwareMmu is null ? new GuestMmu(hardware) : HardwareMmu.WithCpu(hardware);
        Cpu = cpu;
    }

    public override string ToString() => $"vCPU {Id}";
}

/// <summary>
/// struct kvm_run's mmio exit (KVM_EXIT_MMIO): the guest-physical address, the length, the
/// direction, and for a write the data; userspace answers a read by filling the data before the
/// next KVM_RUN.
/// </summary>
public sealed record MmioExit(ulong Gpa, int Length, bool IsWrite, ulong Data)
{
    public override string ToString() => $"KVM_EXIT_MMIO {(IsWrite ? "write" : "read")} gpa 0x{Gpa:x} len {Length}{(IsWrite ? $" data 0x{Data:x}" : "")}";
}

/// <summary>An invariant the model found broken, kept until a scenario claims it or the scenario ends.</summary>
public sealed record Violation(string Rule, string Detail)
{
    public override string ToString() => $"{Rule}: {Detail}";
}
