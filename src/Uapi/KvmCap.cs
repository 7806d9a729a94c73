namespace SpecKit.Uapi;

/// <summary>
/// The KVM_CAP_* numbers (include/uapi/linux/kvm.h) that KVM_CHECK_EXTENSION and KVM_ENABLE_CAP
/// take, for the memory, dirty-log and exit behaviour a scenario can see.
/// </summary>
public enum KvmCap : uint
{
    /// <summary>KVM_CAP_USER_MEMORY: KVM_SET_USER_MEMORY_REGION exists.</summary>
    UserMemory = 3,

    /// <summary>KVM_CAP_NR_VCPUS: the recommended number of vCPUs.</summary>
    NrVcpus = 9,

    /// <summary>KVM_CAP_NR_MEMSLOTS: the number of user memslots (KVM_USER_MEM_SLOTS).</summary>
    NrMemslots = 10,

    /// <summary>KVM_CAP_SYNC_MMU: changes to the host mapping reach the guest (MMU notifiers).</summary>
    SyncMmu = 16,

    /// <summary>KVM_CAP_MAX_VCPUS.</summary>
    MaxVcpus = 66,

    /// <summary>KVM_CAP_READONLY_MEM: KVM_MEM_READONLY is accepted.</summary>
    ReadonlyMem = 81,

    /// <summary>KVM_CAP_DISABLE_QUIRKS: KVM_ENABLE_CAP's args[0] is the mask of quirks to disable.</summary>
    DisableQuirks = 116,

    /// <summary>KVM_CAP_MULTI_ADDRESS_SPACE: the number of memslot address spaces (as_id); 0 when there is one.</summary>
    MultiAddressSpace = 118,

    /// <summary>KVM_CAP_MAX_VCPU_ID: KVM_CREATE_VCPU takes ids below it.</summary>
    MaxVcpuId = 128,

    /// <summary>KVM_CAP_IMMEDIATE_EXIT: kvm_run.immediate_exit makes KVM_RUN return -EINTR at once.</summary>
    ImmediateExit = 136,

    /// <summary>
    /// KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: KVM_CHECK_EXTENSION returns the flag bits it takes
    /// (<see cref="ManualDirtyLogProtect"/>); KVM_ENABLE_CAP's args[0] sets them: GET no longer
    /// clears and re-protects, KVM_CLEAR_DIRTY_LOG does.
    /// </summary>
    ManualDirtyLogProtect2 = 168,

    /// <summary>
    /// KVM_CAP_DIRTY_LOG_RING: KVM_CHECK_EXTENSION returns the largest ring in bytes;
    /// KVM_ENABLE_CAP's args[0] is the per-vCPU ring size in bytes.
    /// </summary>
    DirtyLogRing = 192,

    /// <summary>KVM_CAP_BINARY_STATS_FD: KVM_GET_STATS_FD exists.</summary>
    BinaryStatsFd = 203,

    /// <summary>
    /// KVM_CAP_DISABLE_QUIRKS2: KVM_CHECK_EXTENSION returns the quirks that can be disabled
    /// (<see cref="KvmX86Quirks"/>); KVM_ENABLE_CAP's args[0] disables them.
    /// </summary>
    DisableQuirks2 = 213,

    /// <summary>KVM_CAP_DIRTY_LOG_RING_ACQ_REL: the ring, with acquire/release ordering on kvm_dirty_gfn.flags.</summary>
    DirtyLogRingAcqRel = 223,

    /// <summary>KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: a bitmap beside the ring for writes without a running vCPU.</summary>
    DirtyLogRingWithBitmap = 225,

    /// <summary>KVM_CAP_USER_MEMORY2: KVM_SET_USER_MEMORY_REGION2 exists.</summary>
    UserMemory2 = 231,

    /// <summary>KVM_CAP_MEMORY_FAULT_INFO: an -EFAULT from KVM_RUN can carry KVM_EXIT_MEMORY_FAULT.</summary>
    MemoryFaultInfo = 232,

    /// <summary>KVM_CAP_MEMORY_ATTRIBUTES: the attributes KVM_SET_MEMORY_ATTRIBUTES takes (0: none).</summary>
    MemoryAttributes = 233,

    /// <summary>KVM_CAP_GUEST_MEMFD: KVM_CREATE_GUEST_MEMFD exists.</summary>
    GuestMemfd = 234,

    /// <summary>KVM_CAP_VM_TYPES: a mask of the VM types KVM_CREATE_VM takes.</summary>
    VmTypes = 235,
}

/// <summary>KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2's flags (include/uapi/linux/kvm.h).</summary>
[Flags]
public enum ManualDirtyLogProtect : ulong
{
    None = 0,

    /// <summary>KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE.</summary>
    Enable = 1,

    /// <summary>KVM_DIRTY_LOG_INITIALLY_SET: a slot's bitmap starts all set when logging is turned on.</summary>
    InitiallySet = 2,
}

/// <summary>KVM_X86_QUIRK_* bits for KVM_CAP_DISABLE_QUIRKS(2) (arch/x86/include/uapi/asm/kvm.h).</summary>
[Flags]
public enum KvmX86Quirks : ulong
{
    None = 0,

    /// <summary>KVM_X86_QUIRK_SLOT_ZAP_ALL: deleting or moving a memslot zaps every SPTE, not only the slot's.</summary>
    SlotZapAll = 1 << 7,
}
