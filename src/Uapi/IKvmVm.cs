namespace SpecKit.Uapi;

/// <summary>
/// A VM as userspace has it: the VM fd's ioctls, the process's memory behind the memslots, and
/// the vCPUs. Every call returns the kernel's result (a value or <c>-errno</c>, as
/// Documentation/virt/kvm/api.rst lists them for the ioctl); a .NET exception means the caller
/// broke this interface's own rules, never that the kernel refused.
/// </summary>
public interface IKvmVm : IDisposable
{
    /// <summary>The kind of host answering, so a scenario can declare where a result depends on it.</summary>
    HostTraits Host { get; }

    /// <summary>The VMM process's address space: the memory memslots point at.</summary>
    IUserspaceMemory Memory { get; }

    /// <summary>KVM_CHECK_EXTENSION on the VM fd: 0 when absent, else 1 or the capability's value.</summary>
    KvmResult CheckExtension(KvmCap cap);

    /// <summary>
    /// KVM_ENABLE_CAP with args[0] = <paramref name="arg0"/>: the flags for
    /// <see cref="KvmCap.ManualDirtyLogProtect2"/>, the ring size in bytes for
    /// <see cref="KvmCap.DirtyLogRing"/>, the quirks for <see cref="KvmCap.DisableQuirks"/>.
    /// </summary>
    KvmResult EnableCap(KvmCap cap, ulong arg0);

    /// <summary>KVM_SET_USER_MEMORY_REGION: create, delete (size 0), move or change the flags of a memslot.</summary>
    KvmResult SetUserMemoryRegion(UserspaceMemoryRegion region);

    /// <summary>KVM_SET_USER_MEMORY_REGION2 with no guest_memfd.</summary>
    KvmResult SetUserMemoryRegion2(UserspaceMemoryRegion region);

    /// <summary>KVM_CREATE_VCPU.</summary>
    KvmResult<IKvmVcpu> CreateVcpu(uint id);

    /// <summary>KVM_GET_DIRTY_LOG: the slot's bitmap (and, without manual protection, clear and re-protect it).</summary>
    KvmResult<DirtyBitmap> GetDirtyLog(MemslotId slot);

    /// <summary>
    /// KVM_CLEAR_DIRTY_LOG: clear (and re-protect) the pages of <paramref name="bitmap"/>, whose
    /// bit 0 is page <paramref name="firstPage"/> of the slot, over <paramref name="numPages"/> pages.
    /// </summary>
    KvmResult ClearDirtyLog(MemslotId slot, ulong firstPage, uint numPages, DirtyBitmap bitmap);

    /// <summary>KVM_RESET_DIRTY_RINGS: re-protect every harvested entry of every vCPU's ring; returns how many were reset.</summary>
    KvmResult ResetDirtyRings();

    /// <summary>KVM_SET_MEMORY_ATTRIBUTES over [address, address + size).</summary>
    KvmResult SetMemoryAttributes(ulong address, ulong size, ulong attributes, ulong flags = 0);

    /// <summary>KVM_GET_STATS_FD, read once: the VM's binary statistics now.</summary>
    KvmResult<KvmStats> GetStats();
}

/// <summary>
/// A vCPU fd: KVM_RUN over a batch of guest accesses, and the vCPU's mmap'd dirty ring
/// (offset KVM_DIRTY_LOG_PAGE_OFFSET of the vCPU fd).
/// </summary>
public interface IKvmVcpu
{
    uint Id { get; }

    /// <summary>
    /// Run <paramref name="batch"/> in order on this vCPU and return the first exit to userspace:
    /// <see cref="VcpuExit.Done"/> when the batch ran to its end.
    /// </summary>
    VcpuExit Run(IReadOnlyList<GuestAccess> batch);

    /// <summary>
    /// KVM_RUN again after an exit in the middle of a batch: after a KVM_EXIT_MMIO read,
    /// <paramref name="mmioData"/> is userspace's answer (kvm_run.mmio.data, little-endian).
    /// </summary>
    VcpuExit Resume(ulong mmioData = 0);

    /// <summary>The entries KVM has published (KVM_DIRTY_GFN_F_DIRTY) and userspace has not harvested, in ring order; nothing changes.</summary>
    IReadOnlyList<DirtyGfn> PeekDirtyRing();

    /// <summary>Harvest up to <paramref name="max"/> published entries in ring order: each is marked KVM_DIRTY_GFN_F_RESET for KVM_RESET_DIRTY_RINGS.</summary>
    IReadOnlyList<DirtyGfn> HarvestDirtyRing(int max = int.MaxValue);
}
