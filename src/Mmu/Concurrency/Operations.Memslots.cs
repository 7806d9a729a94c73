using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.Tdx;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Concurrency;

public static partial class Operations
{
    /// <summary>
    /// Userspace deletes memslot <paramref name="slotId"/> while vCPUs run (KVM_SET_USER_MEMORY_REGION
    /// with memory_size 0, KVM_MR_DELETE), as kvm_set_memslot() (kvm_main.c) does it:
    /// kvm_invalidate_memslot() publishes a copy of the slot with KVM_MEMSLOT_INVALID
    /// (kvm_swap_active_memslots: once mn_active_invalidate_count is 0, then
    /// synchronize_srcu_expedited(), so no vCPU still acts on the valid slot), and "from this point
    /// no new shadow pages pointing to a deleted, or moved, memslot will be created": a fault
    /// that finds the invalid slot retries (mmu.c kvm_mmu_faultin_pfn). Then
    /// kvm_arch_flush_shadow_memslot() zaps the slot's SPTEs; kvm_delete_memslot() swaps in the
    /// memslots without it and synchronizes again, and the ioctl returns. The kernel's promise to
    /// userspace, which the VMM relies on when it unmaps the memory after: once the ioctl has
    /// returned no SPTE and no vCPU's TLB maps a page of the deleted slot (the checker's "deleted
    /// memslot still mapped", checked at the return). Only kvm_mmu_zap_memslot() is modelled
    /// concurrently: a default VM must have KVM_X86_QUIRK_SLOT_ZAP_ALL disabled, since
    /// kvm_mmu_zap_all_fast()'s root switch is not.
    /// </summary>
    public static ConcurrentThread DeleteMemslot(ConcurrentKvm ctx, int slotId) => new("userspace", SetMemslotSteps(ctx, CheckedSlot(ctx, slotId), newBaseGfn: null));

    /// <summary>
    /// Userspace moves memslot <paramref name="slotId"/> to <paramref name="newBaseGfn"/> while
    /// vCPUs run (KVM_MR_MOVE): the same invalidation, wait and zap as a delete, then
    /// kvm_move_memslot() publishes the slot at its new base over the same host memory and
    /// waits again. A fault on the old GFNs retries until the move is done, then finds no slot
    /// (MMIO); one on the new GFNs maps the slot's pages there. When the ioctl returns, every SPTE
    /// and TLB entry over the old GFNs maps what the memslots map there now (nothing, but where
    /// the new range overlaps the old), the same "deleted memslot still mapped" rule.
    /// </summary>
    public static ConcurrentThread MoveMemslot(ConcurrentKvm ctx, int slotId, ulong newBaseGfn)
    {
        var old = CheckedSlot(ctx, slotId);
        if (ctx.Kvm.Memslots.FirstOrDefault(s => s.Id != slotId && s.BaseGfn < newBaseGfn + old.Npages && newBaseGfn < s.EndGfn) is { } overlap)
        {
            throw new ArgumentException($"[0x{newBaseGfn:x}, 0x{newBaseGfn + old.Npages:x}) overlaps {overlap}: KVM_SET_USER_MEMORY_REGION returns -EEXIST", nameof(newBaseGfn));
        }

        return new("userspace", SetMemslotSteps(ctx, old, newBaseGfn));
    }

    private static KvmMemorySlot CheckedSlot(ConcurrentKvm ctx, int slotId)
    {
        var kvm = ctx.Kvm;
        var old = kvm.SlotById(slotId) ?? throw new ArgumentException($"no memslot {slotId}", nameof(slotId));
        if (kvm.VmType != KvmVmType.Default || (kvm.Quirks & KvmX86Quirks.SlotZapAll) != 0)
        {
            throw new NotSupportedException("the concurrent memslot update runs kvm_mmu_zap_memslot: disable KVM_X86_QUIRK_SLOT_ZAP_ALL on a default VM (kvm_mmu_zap_all_fast's root switch is not modelled concurrently)");
        }

        if (kvm.DirtyRing is not null)
        {
            throw new NotSupportedException("the concurrent memslot update does not model the dirty ring's entries for a deleted or moved slot");
        }

        return old;
    }

    private static IEnumerable<Step> SetMemslotSteps(ConcurrentKvm ctx, KvmMemorySlot old, ulong? newBaseGfn)
    {
        var kvm = ctx.Kvm;
        yield return new Step($"KVM_SET_USER_MEMORY_REGION: kvm_invalidate_memslot: kvm_swap_active_memslots, once no invalidation is active, publishes memslot {old.Id} with KVM_MEMSLOT_INVALID", () => !kvm.MnInvalidationsActive);
        var invalid = kvm.InvalidateMemslotConcurrently(old);
        if (ctx.SynchronizeSrcu)
        {
            yield return new Step("kvm_swap_active_memslots: synchronize_srcu_expedited(&kvm->srcu)", ctx.Srcu.Synchronize());
        }

        // kvm_arch_flush_shadow_memslot() -> kvm_mmu_zap_memslot(): write_lock(mmu_lock),
        // kvm_unmap_gfn_range() over the slot (tdp_mmu_zap_leafs on every root
        // kvm_tdp_mmu_unmap_gfn_range names, the invalid ones too), kvm_flush_remote_tlbs() if
        // it zapped anything, write_unlock(mmu_lock).
        const MmuLock side = MmuLock.Write;
        yield return new Step("kvm_mmu_zap_memslot: write_lock(mmu_lock)", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        var flush = new bool[1];
        var tdp = Tdp(ctx);
        foreach (var root in tdp.UnmapRoots(UnmapCaller.MemslotZap))
        {
            foreach (var step in tdp.ZapLeafsConcurrently(ctx, root, old.BaseGfn, old.EndGfn, side, flush))
            {
                yield return step;
            }
        }

        if (flush[0])
        {
            yield return new Step("kvm_mmu_zap_memslot: kvm_flush_remote_tlbs");
            kvm.FlushRemoteTlbs($"memslot {old.Id} zapped");
        }

        yield return new Step("kvm_mmu_zap_memslot: write_unlock(mmu_lock)");
        ctx.MmuLock.Release(ctx.Current, side);

        // kvm_delete_memslot() or kvm_move_memslot(): kvm_activate_memslot(), a second
        // kvm_swap_active_memslots() with its own wait for invalidations and SRCU readers.
        var change = newBaseGfn is { } gfn ? $"memslot {old.Id} at gfn 0x{gfn:x}" : $"the memslots without memslot {old.Id}";
        yield return new Step($"{(newBaseGfn is null ? "kvm_delete_memslot" : "kvm_move_memslot")}: kvm_swap_active_memslots, once no invalidation is active, publishes {change}", () => !kvm.MnInvalidationsActive);
        if (newBaseGfn is { } newBase)
        {
            kvm.MoveMemslotConcurrently(invalid, newBase);
        }
        else
        {
            kvm.DeleteMemslotConcurrently(invalid);
        }

        if (ctx.SynchronizeSrcu)
        {
            yield return new Step("kvm_swap_active_memslots: synchronize_srcu_expedited(&kvm->srcu)", ctx.Srcu.Synchronize());
        }

        yield return new Step("KVM_SET_USER_MEMORY_REGION: returns to userspace");
        CheckOldSlotUnmapped(ctx, old);
        ctx.Outcomes.Add(newBaseGfn is { } moved ? $"KVM_SET_USER_MEMORY_REGION moved memslot {old.Id} to gfn 0x{moved:x}" : $"KVM_SET_USER_MEMORY_REGION deleted memslot {old.Id}");
        kvm.AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    // What kvm_set_memslot() promises when a delete or move returns: kvm_arch_flush_shadow_memslot()
    // has zapped every SPTE of the old slot and flushed the TLBs that could hold its
    // translations, so no vCPU reaches the old slot's pages through its old GFNs any more. A
    // mapping there is right only if it is what the memslots map now (a moved slot's new range
    // may overlap the old); an MMIO SPTE names a GFN, not a page, and is no mapping.
    private static void CheckOldSlotUnmapped(ConcurrentKvm ctx, KvmMemorySlot old)
    {
        var kvm = ctx.Kvm;
        ulong? Now(ulong gfn) => kvm.FindSlot(gfn) is { } slot ? kvm.Host.Lookup(slot.GfnToHvpn(gfn))?.Pfn : null;
        foreach (var (gfn, level, spte) in kvm.Mmu.Leaves())
        {
            var pages = TdpWalker.PagesPerHpage(level);
            for (var page = Math.Max(gfn, old.BaseGfn); page < Math.Min(gfn + pages, old.EndGfn); page++)
            {
                if (Now(page) != TdpWalker.SpteToPfn(spte) + (page - gfn))
                {
                    kvm.Violate("deleted memslot still mapped", $"gfn 0x{gfn:x}'s {Kvm.Kvm.LevelName(level)} SPTE 0x{spte:x} still maps gfn 0x{page:x} of memslot {old.Id} after its {(kvm.SlotById(old.Id) is null ? "delete" : "move")} returned");
                    break;
                }
            }
        }

        foreach (var vcpu in kvm.Vcpus)
        {
            foreach (var (gfn, entry) in vcpu.Tlb)
            {
                if (old.Contains(gfn) && Now(gfn) != entry.Pfn)
                {
                    kvm.Violate("deleted memslot still mapped", $"vCPU {vcpu.Id}'s TLB maps gfn 0x{gfn:x} to host pfn 0x{entry.Pfn:x} of memslot {old.Id} after its {(kvm.SlotById(old.Id) is null ? "delete" : "move")} returned");
                }
            }
        }
    }
}
