namespace SpecKit.Uapi;

/// <summary>
/// When a dirty-logging slot gets a dirty event (a bitmap bit, a ring entry) for a guest write.
/// </summary>
public enum DirtyEventSource
{
    /// <summary>
    /// The host maps guest memory with SPTEs (EPT/NPT, or shadow paging) and write-protects or
    /// clears D to log: only the first write after a page was (re-)protected makes a dirty event.
    /// </summary>
    WriteFaultOrDirtyBit,

    /// <summary>
    /// The host runs the guest in KVM's instruction emulator: each write instruction reaches
    /// memory through kvm_vcpu_write_guest() and mark_page_dirty(), so every write instruction is
    /// one dirty event, also to a page that was already dirty.
    /// </summary>
    EveryWriteInstruction,
}

/// <summary>
/// What a guest access to a memslot gets when the host memory behind it cannot be used (the
/// range was munmap'ed, or is PROT_NONE, or is read-only and the access writes).
/// </summary>
public enum HostFaultExit
{
    /// <summary>
    /// KVM_RUN returns -EFAULT (with KVM_EXIT_MEMORY_FAULT): the MMU's hva_to_pfn() failed
    /// (kvm_handle_error_pfn()), as mmu_stress_test asserts.
    /// </summary>
    MemoryFault,

    /// <summary>
    /// KVM_EXIT_MMIO: the instruction emulator's kvm_vcpu_read/write_guest() failed, and
    /// emulator_read_write_onepage() falls back to MMIO.
    /// </summary>
    Mmio,
}

/// <summary>
/// The kind of host behind the uAPI, as data: a step whose result depends on one of these
/// declares it, and compares as the host answers.
/// </summary>
/// <param name="Description">Who answers: the kernel release and KVM module, or the model.</param>
/// <param name="DirtyEvents">When a guest write is a dirty event.</param>
/// <param name="StatsCountMappedPages">Whether pages_4k/pages_2m/pages_1g count the guest's mapped memory.</param>
/// <param name="HostFaults">What a guest access to unusable host memory gets.</param>
/// <param name="DirtyRingReservedEntries">
/// kvm_dirty_ring_get_rsvd_entries(): KVM_DIRTY_RING_RSVD_ENTRIES plus the PML buffer; a ring
/// is soft-full (the vCPU exits with KVM_EXIT_DIRTY_RING_FULL) with this many entries left.
/// </param>
/// <param name="TdpMmu">The kvm module's tdp_mmu parameter, where the host has one.</param>
public sealed record HostTraits(
    string Description,
    DirtyEventSource DirtyEvents,
    bool StatsCountMappedPages,
    HostFaultExit HostFaults,
    int DirtyRingReservedEntries,
    bool? TdpMmu);
