using System.Globalization;

namespace SpecKit.Uapi;

/// <summary>
/// kvm_userspace_memory_region.slot: the address space (as_id) in bits 16-31 and the slot id in
/// bits 0-15, as kvm_set_memory_region() and kvm_get_dirty_log_protect() split it.
/// </summary>
public readonly record struct MemslotId(ushort AddressSpace, ushort Id)
{
    public MemslotId(ushort id)
        : this(0, id)
    {
    }

    public uint Raw => ((uint)AddressSpace << 16) | Id;

    public static MemslotId FromRaw(uint raw) => new((ushort)(raw >> 16), (ushort)raw);

    public override string ToString() => AddressSpace == 0
        ? Id.ToString(CultureInfo.InvariantCulture)
        : $"{AddressSpace}:{Id}";
}

/// <summary>kvm_userspace_memory_region.flags (include/uapi/linux/kvm.h, KVM_MEM_*).</summary>
[Flags]
public enum MemoryRegionFlags : uint
{
    None = 0,

    /// <summary>KVM_MEM_LOG_DIRTY_PAGES: the slot has a dirty bitmap (or feeds the dirty ring).</summary>
    LogDirtyPages = 1 << 0,

    /// <summary>KVM_MEM_READONLY: guest writes exit to userspace as KVM_EXIT_MMIO.</summary>
    ReadOnly = 1 << 1,

    /// <summary>KVM_MEM_GUEST_MEMFD: private memory from a guest_memfd (KVM_SET_USER_MEMORY_REGION2 only).</summary>
    GuestMemfd = 1 << 2,
}

/// <summary>
/// struct kvm_userspace_memory_region: slot <see cref="Slot"/> maps <see cref="MemorySize"/> bytes
/// of guest physical memory at <see cref="GuestPhysAddr"/> to the host range at
/// <see cref="UserspaceAddr"/>. A size of 0 deletes the slot; the same id at another address moves it.
/// </summary>
public sealed record UserspaceMemoryRegion(
    MemslotId Slot,
    MemoryRegionFlags Flags,
    ulong GuestPhysAddr,
    ulong MemorySize,
    ulong UserspaceAddr)
{
    public const int PageShift = 12;

    public const ulong PageSize = 1UL << PageShift;

    public ulong BaseGfn => GuestPhysAddr >> PageShift;

    public ulong Npages => MemorySize >> PageShift;

    /// <summary>The region that deletes <paramref name="slot"/> (memory_size 0).</summary>
    public static UserspaceMemoryRegion Delete(MemslotId slot) => new(slot, MemoryRegionFlags.None, 0, 0, 0);
}
