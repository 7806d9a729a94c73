using SpecKit.Mmu.Guest;
namespace SpecKit.Mmu.Shadow;

/// <summary>What mmu_try_to_unsync_pages() returns.</summary>
public enum UnsyncResult
{
    /// <summary>0: every page shadowing the gfn is unsync (or there is none): the SPTE may be writable.</summary>
    Unsynced,

    /// <summary>-EPERM: the gfn is write-tracked, or KVM is synchronizing: write-protect the SPTE.</summary>
    WriteTracked,

    /// <summary>-EPERM: a page shadows the gfn and KVM is synchronizing, so it may not become unsync now.</summary>
    Synchronizing,

    /// <summary>-EEXIST: a prefetch does not unsync a page.</summary>
    Prefetch,
}

public sealed partial class ShadowMmu
{
    /// <summary>
    /// mmu_try_to_unsync_pages(): KVM is making a writable SPTE for <paramref name="gfn"/>. A
    /// write-tracked gfn (an upper-level table, which is never unsync) must stay read-only. Every
    /// 4K page shadowing it is marked unsync (kvm_unsync_page), unless KVM is synchronizing
    /// ("KVM must complete emulation of the guest TLB flush before allowing shadow pages to
    /// become unsync") or prefetching.
    /// </summary>
    internal UnsyncResult MmuTryToUnsyncPages(ulong gfn, bool synchronizing, bool prefetch)
    {
        if (IsWriteTracked(gfn))
        {
            return UnsyncResult.WriteTracked;
        }

        foreach (var sp in PagesWithGptes(gfn))
        {
            if (synchronizing)
            {
                return UnsyncResult.Synchronizing;
            }

            if (sp.Unsync)
            {
                continue;
            }

            if (prefetch)
            {
                return UnsyncResult.Prefetch;
            }

            KvmWarn.On(sp.Role.Level != GuestWalker.PteLevel, $"{sp} would become unsync above 4K");
            KvmUnsyncPage(sp);
        }

        return UnsyncResult.Unsynced;
    }

    /// <summary>kvm_unsync_page(): sp->unsync = 1, and the path from every parent marked (kvm_mmu_mark_parents_unsync).</summary>
    private void KvmUnsyncPage(ShadowPage sp)
    {
        sp.Unsync = true;
        Kvm.Log.Add($"  {sp.Name} unsync (kvm_unsync_page: the guest may now write gfn 0x{sp.Gfn:x} directly)");
        foreach (var (parent, index) in sp.ParentPtes)
        {
            MarkUnsync(parent, index);
        }
    }

    /// <summary>mark_unsync(): set the SPTE's bit in its page's unsync_child_bitmap, and the first one marks the page's parents too.</summary>
    private static void MarkUnsync(ShadowPage sp, int index)
    {
        if (sp.UnsyncChildBitmap[index])
        {
            return;
        }

        sp.UnsyncChildBitmap[index] = true;
        if (sp.UnsyncChildren++ > 0)
        {
            return;
        }

        foreach (var (parent, parentIndex) in sp.ParentPtes)
        {
            MarkUnsync(parent, parentIndex);
        }
    }

    /// <summary>kvm_unlink_unsync_page(): the page is in sync again.</summary>
    private static void KvmUnlinkUnsyncPage(ShadowPage sp)
    {
        KvmWarn.On(!sp.Unsync, $"{sp} is not unsync");
        sp.Unsync = false;
    }

    /// <summary>
    /// kvm_mmu_slot_gfn_write_protect(kvm, slot, gfn, PG_LEVEL_4K) for shadow-page protection
    /// (account_shadowed, mmu_sync_children): see <see cref="SlotGfnWriteProtect"/>.
    /// </summary>
    internal bool WriteProtectGfn(ulong gfn) => Kvm.FindSlot(gfn) is { } slot && SlotGfnWriteProtect(slot, gfn, GuestWalker.PteLevel);
}
