using SpecKit.Uapi;
namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    // The slot whose KVM_MR_FLAGS_ONLY change is in progress (kvm_mmu_slot_apply_flags).
    private KvmMemorySlot? _applyingFlags;

    /// <summary>x86 KVM_USER_MEM_SLOTS: KVM_MEM_SLOTS_NUM (SHRT_MAX) less the three internal slots.</summary>
    public const int KvmUserMemSlots = short.MaxValue - 3;

    /// <summary>KVM_MEM_MAX_NR_PAGES: (1UL &lt;&lt; 31) - 1, the most pages a slot may have.</summary>
    public const ulong KvmMemMaxNrPages = (1UL << 31) - 1;

    /// <summary>The quirks in force; all are on until KVM_CAP_DISABLE_QUIRKS2 turns one off.</summary>
    public KvmX86Quirks Quirks { get; private set; } = KvmX86Quirks.SlotZapAll;

    /// <summary>KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2): -EINVAL for a bit the kernel does not have.</summary>
    public int DisableQuirks(KvmX86Quirks quirks)
    {
        if ((quirks & ~KvmX86Quirks.SlotZapAll) != 0)
        {
            return -(int)Errno.EINVAL;
        }

        Quirks &= ~quirks;
        Log.Add($"KVM_CAP_DISABLE_QUIRKS2: {quirks} off");
        return 0;
    }

    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION (kvm_vm_ioctl_set_memory_region, __kvm_set_memory_region):
    /// create, delete (size 0), move (a new base) or change the flags of a memslot; -EINVAL for
    /// unknown flags, an unaligned or wrapping range, a slot id or address space out of range, or
    /// a change of size, userspace address or KVM_MEM_READONLY on an existing slot; -EEXIST for a
    /// new or moved range that overlaps another slot. A change that changes nothing returns 0.
    /// </summary>
    public int SetUserMemoryRegion(uint slot, MemoryRegionFlags flags, ulong guestPhysAddr, ulong memorySize, ulong userspaceAddr)
    {
        var what = $"KVM_SET_USER_MEMORY_REGION slot {slot & 0xffff}{(slot >> 16 != 0 ? $" as {slot >> 16}" : "")}";
        int Refuse(Errno errno, string why)
        {
            Log.Add($"{what}: -{errno} ({why})");
            return -(int)errno;
        }

        if ((slot & 0xffff) >= KvmUserMemSlots)
        {
            return Refuse(Errno.EINVAL, "slot id past KVM_USER_MEM_SLOTS");
        }

        // check_memory_region_flags(): LOG_DIRTY_PAGES, and READONLY where kvm_arch_has_readonly_mem(); TDX has no read-only memory.
        var valid = MemoryRegionFlags.LogDirtyPages | (IsMirrored ? MemoryRegionFlags.None : MemoryRegionFlags.ReadOnly);
        if ((flags & ~valid) != 0)
        {
            return Refuse(Errno.EINVAL, $"flags {flags} not supported");
        }

        var asId = slot >> 16;
        var id = (int)(slot & 0xffff);
        if ((memorySize & 0xfff) != 0 || (guestPhysAddr & 0xfff) != 0 || (userspaceAddr & 0xfff) != 0)
        {
            return Refuse(Errno.EINVAL, "size, guest_phys_addr and userspace_addr must be page aligned");
        }

        // kvm_arch_nr_memslot_as_ids(): two address spaces (SMM) for a VM without private memory.
        if (asId >= (IsMirrored ? 1u : 2u))
        {
            return Refuse(Errno.EINVAL, "address space out of range");
        }

        if (asId != 0)
        {
            return Refuse(Errno.EINVAL, "the model has no SMM address space");
        }

        if (guestPhysAddr + memorySize < guestPhysAddr || memorySize >> 12 > KvmMemMaxNrPages)
        {
            return Refuse(Errno.EINVAL, "range wraps or exceeds KVM_MEM_MAX_NR_PAGES");
        }

        var old = SlotById(id);
        if (memorySize == 0)
        {
            if (old is null)
            {
                return Refuse(Errno.EINVAL, "deleting a slot that does not exist");
            }

            DeleteSlot(old);
            return 0;
        }

        var baseGfn = guestPhysAddr >> 12;
        var npages = memorySize >> 12;
        if (old is not null)
        {
            if (userspaceAddr >> 12 != old.UserspacePage || npages != old.Npages || ((flags ^ old.Flags) & MemoryRegionFlags.ReadOnly) != 0)
            {
                return Refuse(Errno.EINVAL, "an existing slot keeps its size, userspace_addr and KVM_MEM_READONLY");
            }

            if (baseGfn == old.BaseGfn && flags == old.Flags)
            {
                return 0;
            }
        }

        if ((old is null || baseGfn != old.BaseGfn) && Memslots.FirstOrDefault(s => s.Id != id && s.BaseGfn < baseGfn + npages && baseGfn < s.EndGfn) is { } overlap)
        {
            return Refuse(Errno.EEXIST, $"[0x{baseGfn:x}, 0x{baseGfn + npages:x}) overlaps {overlap}");
        }

        if (old is null)
        {
            CreateSlot(id, baseGfn, npages, flags, userspaceAddr >> 12);
        }
        else if (baseGfn != old.BaseGfn)
        {
            MoveSlot(old, baseGfn, flags);
        }
        else
        {
            ChangeSlotFlags(old, flags);
        }

        return 0;
    }

    /// <summary>KVM_MR_CREATE: the new slot, its dirty bitmap prepared (kvm_prepare_memory_region); no SPTE exists for it yet.</summary>
    private void CreateSlot(int id, ulong baseGfn, ulong npages, MemoryRegionFlags flags, ulong userspacePage)
    {
        var slot = new KvmMemorySlot(id, baseGfn, npages, flags, userspacePage) { Lineage = ++_slotLineages };
        PrepareDirtyBitmap(slot, old: null);
        Memslots.Add(slot);
        MemslotGeneration++;
        var hostLevel = Host.FindVma(userspacePage)?.Level ?? 1;
        Log.Add($"memslot {id}: gfn 0x{baseGfn:x}..0x{baseGfn + npages - 1:x}, host pages {LevelName(hostLevel)}{FlagsText(flags)}");
        if (slot.DirtyTracked)
        {
            StartLogging(slot);
        }

        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// KVM_MR_DELETE: kvm_invalidate_memslot() hides the slot, then kvm_arch_flush_shadow_memslot()
    /// zaps: every SPTE on a default VM with KVM_X86_QUIRK_SLOT_ZAP_ALL (kvm_mmu_zap_all_fast),
    /// else the slot's (kvm_mmu_zap_memslot: a TDX VM zaps both aliases). The slot's dirty bitmap
    /// goes with it, pending bits and all; its host memory stays with the process.
    /// </summary>
    private void DeleteSlot(KvmMemorySlot slot)
    {
        FlushShadowMemslot(slot);
        Memslots.Remove(slot);
        MemslotGeneration++;
        ForgetLoggingOf(slot);
        Log.Add($"memslot {slot.Id} deleted");
        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// KVM_MR_MOVE: the old slot is invalidated and zapped as for a delete, then the slot reappears
    /// at <paramref name="baseGfn"/> over the same host memory, with the same flags and dirty bitmap
    /// (kvm_prepare_memory_region: "new->dirty_bitmap = old->dirty_bitmap").
    /// </summary>
    private void MoveSlot(KvmMemorySlot old, ulong baseGfn, MemoryRegionFlags flags)
    {
        FlushShadowMemslot(old);
        var moved = old.MovedTo(baseGfn, flags);
        Memslots[Memslots.IndexOf(old)] = moved;
        MemslotGeneration++;
        Log.Add($"memslot {old.Id} moved to gfn 0x{baseGfn:x}");
        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// KVM_MR_FLAGS_ONLY: the bitmap is allocated or freed with KVM_MEM_LOG_DIRTY_PAGES
    /// (kvm_prepare_memory_region), then kvm_mmu_slot_apply_flags() write-protects the slot when
    /// logging starts (unless INITIALLY_SET) and recovers huge pages when it stops.
    /// </summary>
    private void ChangeSlotFlags(KvmMemorySlot slot, MemoryRegionFlags flags)
    {
        var wasLogging = slot.DirtyTracked;
        var old = slot.Flags;
        slot.Flags = flags;
        PrepareDirtyBitmap(slot, old);
        MemslotGeneration++;
        if (wasLogging != slot.DirtyTracked)
        {
            // The bitmap's pending bits go with it; ring entries stay in the rings, and are
            // still reports of the writes that pushed them.
            if (DirtyRing is null)
            {
                ForgetLoggingOf(slot);
            }

            if (slot.DirtyTracked)
            {
                StartLogging(slot);
            }

            // A write that races the ioctl (while a walk yields) need not be logged: userspace
            // copies the whole slot after logging is on, so the checker exempts it from "lost".
            _applyingFlags = slot;
            try
            {
                if (!slot.ReadOnly)
                {
                    Mmu.SlotApplyFlags(slot, slot.DirtyTracked);
                }
            }
            finally
            {
                _applyingFlags = null;
            }
        }

        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// The first half of a KVM_MR_FLAGS_ONLY change that turns dirty logging on or off, as the
    /// concurrent operations run it (Concurrency.Operations.EnableDirtyLogging and
    /// DisableDirtyLogging): the copy of <paramref name="old"/> with <paramref name="flags"/> and
    /// its bitmap, none when logging stops (kvm_prepare_memory_region), replaces it
    /// (kvm_swap_active_memslots: rcu_assign_pointer); the vCPUs that read the old slot go on with
    /// it, and its bitmap, until they leave kvm->srcu. Until <see cref="EndFlagsChangeConcurrently"/>,
    /// a write that races the ioctl need not be logged, as in <see cref="ChangeSlotFlags"/>.
    /// </summary>
    internal KvmMemorySlot BeginFlagsChangeConcurrently(KvmMemorySlot old, MemoryRegionFlags flags)
    {
        var slot = old.WithFlags(flags);
        PrepareDirtyBitmap(slot, old.Flags);
        Memslots[Memslots.IndexOf(old)] = slot;
        MemslotGeneration++;
        if (slot.DirtyTracked)
        {
            StartLogging(slot);
        }
        else
        {
            // The bitmap goes with the old slot: what it held is never reported.
            ForgetLoggingOf(slot);
        }

        _applyingFlags = slot;
        return slot;
    }

    /// <summary>
    /// The first swap of a KVM_MR_DELETE as the concurrent operation runs it
    /// (Concurrency.Operations.DeleteMemslot): kvm_invalidate_memslot() copies
    /// <paramref name="old"/> with KVM_MEMSLOT_INVALID (kvm_copy_memslot) and publishes the copy
    /// (kvm_swap_active_memslots: rcu_assign_pointer, a new generation). vCPUs that read the old
    /// slot go on with it until they leave kvm->srcu; a fault that finds the copy retries
    /// (kvm_mmu_faultin_pfn).
    /// </summary>
    internal KvmMemorySlot InvalidateMemslotConcurrently(KvmMemorySlot old)
    {
        var invalid = old.AsInvalid();
        Memslots[Memslots.IndexOf(old)] = invalid;
        MemslotGeneration++;
        Log.Add($"memslot {old.Id}: KVM_MEMSLOT_INVALID published while vCPUs run");
        return invalid;
    }

    /// <summary>
    /// kvm_delete_memslot() after the zap: kvm_activate_memslot(kvm, invalid_slot, NULL) swaps in
    /// memslots without the slot (another generation); its dirty bitmap goes with it.
    /// </summary>
    internal void DeleteMemslotConcurrently(KvmMemorySlot invalid)
    {
        Memslots.Remove(invalid);
        MemslotGeneration++;
        ForgetLoggingOf(invalid);
        Log.Add($"memslot {invalid.Id} deleted while vCPUs run");
    }

    /// <summary>
    /// kvm_move_memslot() after the zap: kvm_activate_memslot(kvm, invalid_slot, new) swaps in
    /// the slot at <paramref name="baseGfn"/> over the same host memory, with its flags and dirty
    /// bitmap (kvm_prepare_memory_region: "new->dirty_bitmap = old->dirty_bitmap").
    /// </summary>
    internal KvmMemorySlot MoveMemslotConcurrently(KvmMemorySlot invalid, ulong baseGfn)
    {
        var moved = invalid.MovedTo(baseGfn, invalid.Flags);
        Memslots[Memslots.IndexOf(invalid)] = moved;
        MemslotGeneration++;
        Log.Add($"memslot {invalid.Id} moved to gfn 0x{baseGfn:x} while vCPUs run");
        return moved;
    }

    /// <summary>kvm_mmu_slot_apply_flags() has returned: the ioctl returns to userspace.</summary>
    internal void EndFlagsChangeConcurrently(KvmMemorySlot slot)
    {
        _applyingFlags = null;
        Log.Add($"memslot {slot.Id}: dirty logging {(slot.DirtyTracked ? "enabled" : "disabled")} while vCPUs run");
        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// kvm_prepare_memory_region()'s bitmap: none without KVM_MEM_LOG_DIRTY_PAGES (a bitmap the
    /// slot had is freed), the old one for a slot that keeps logging, else a zeroed one, with
    /// exactly npages bits set under manual protect's INITIALLY_SET, unless the dirty ring is
    /// in use (kvm_use_dirty_bitmap()).
    /// </summary>
    private void PrepareDirtyBitmap(KvmMemorySlot slot, MemoryRegionFlags? old)
    {
        if (!slot.DirtyTracked)
        {
            slot.DirtyBitmap = null;
            return;
        }

        if (old is { } was && (was & MemoryRegionFlags.LogDirtyPages) != 0 && slot.DirtyBitmap is not null)
        {
            return;
        }

        if (DirtyRing is not null)
        {
            slot.DirtyBitmap = null;
            return;
        }

        var bitmap = new ulong[(slot.Npages + 63) / 64];
        if (InitiallySet)
        {
            for (ulong page = 0; page < slot.Npages; page++)
            {
                bitmap[page / 64] |= 1UL << (int)(page % 64);
            }
        }

        slot.DirtyBitmap = bitmap;
    }

    /// <summary>
    /// kvm_arch_flush_shadow_memslot(): kvm_mmu_zap_all_fast() for a default VM while
    /// KVM_X86_QUIRK_SLOT_ZAP_ALL is on (kvm_memslot_flush_zap_all), else the slot's SPTEs only
    /// (kvm_mmu_zap_memslot, which for a TDX VM zaps both aliases: KVM_FILTER_PRIVATE |
    /// KVM_FILTER_SHARED, under the model's design of kvm_tdp_mmu_unmap_gfn_range).
    /// </summary>
    private void FlushShadowMemslot(KvmMemorySlot slot)
    {
        if (VmType == KvmVmType.Default && (Quirks & KvmX86Quirks.SlotZapAll) != 0)
        {
            Mmu.ZapAllFast();
            return;
        }

        if (Mmu.FlushShadowMemslot(slot))
        {
            FlushRemoteTlbs($"memslot {slot.Id} zapped");
        }
    }

    /// <summary>The mm is going away (.release): kvm_flush_shadow_all() zaps everything.</summary>
    public void Release()
    {
        if (Mmu.ZapAll())
        {
            FlushRemoteTlbs("release");
        }

        Log.Add("mmu notifier release: all SPTEs zapped");
        AfterOperation("release");
    }

    /// <summary>
    /// Userspace maps <paramref name="npages"/> pages of anonymous memory (backed by THP pages of
    /// <paramref name="hostLevel"/>) and makes slot <paramref name="id"/> over them: what a VMM
    /// does for guest RAM. Returns KVM_SET_USER_MEMORY_REGION's result.
    /// </summary>
    public int CreateMemslot(int id, ulong baseGfn, ulong npages, MemoryRegionFlags flags, int hostLevel)
    {
        var hvpn = Host.Mmap(npages, hostLevel);
        return SetUserMemoryRegion((uint)id, flags, baseGfn << 12, npages << 12, hvpn << 12);
    }

    /// <summary>KVM_SET_USER_MEMORY_REGION with size 0 for slot <paramref name="id"/>.</summary>
    public int DeleteMemslot(int id) => SetUserMemoryRegion((uint)id, MemoryRegionFlags.None, 0, 0, 0);

    /// <summary>KVM_SET_USER_MEMORY_REGION for slot <paramref name="id"/> at a new base (KVM_MR_MOVE).</summary>
    public int MoveMemslot(int id, ulong newBaseGfn) =>
        SlotById(id) is { } slot ? SetUserMemoryRegion((uint)id, slot.Flags, newBaseGfn << 12, slot.Npages << 12, slot.UserspacePage << 12) : -(int)Errno.EINVAL;

    /// <summary>KVM_SET_USER_MEMORY_REGION for slot <paramref name="id"/> with new flags (KVM_MR_FLAGS_ONLY).</summary>
    public int SetMemslotFlags(int id, MemoryRegionFlags flags) =>
        SlotById(id) is { } slot ? SetUserMemoryRegion((uint)id, flags, slot.BaseGfn << 12, slot.Npages << 12, slot.UserspacePage << 12) : -(int)Errno.EINVAL;

    private static string FlagsText(MemoryRegionFlags flags) => flags == MemoryRegionFlags.None ? "" : $" ({flags})";
}
