namespace SpecKit.Mmu.Kvm;

/// <summary>KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) flags.</summary>
[Flags]
public enum ManualProtectFlags
{
    None = 0,

    /// <summary>KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE: GET copies, CLEAR re-protects.</summary>
    Enable = 1,

    /// <summary>KVM_DIRTY_LOG_INITIALLY_SET: the bitmap starts all ones and nothing is write-protected up front.</summary>
    InitiallySet = 2,
}

public sealed partial class Kvm
{
    public const int EINVAL = 22;
    public const int ENXIO = 6;

    public ManualProtectFlags ManualProtect { get; private set; }

    /// <summary>KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2; INITIALLY_SET without ENABLE is -EINVAL.</summary>
    public int EnableManualDirtyLogProtect(ManualProtectFlags flags)
    {
        if (flags.HasFlag(ManualProtectFlags.InitiallySet) && !flags.HasFlag(ManualProtectFlags.Enable))
        {
            return -EINVAL;
        }

        ManualProtect = flags;
        Log.Add($"KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: {flags}");
        return 0;
    }

    private bool InitiallySet => ManualProtect.HasFlag(ManualProtectFlags.InitiallySet);

    /// <summary>
    /// KVM_CLEAR_DIRTY_LOG (kvm_clear_dirty_log_protect): for each 64-page word, clear the bits that
    /// really were set (fetch_andnot), re-protect those pages, and flush once if any were. The range
    /// rules are the kernel's: first_page 64-aligned and inside the slot, and num_pages a multiple
    /// of 64 unless the range reaches the end of the slot. Returns 0 or -errno.
    /// </summary>
    public int ClearDirtyLog(int id, ulong firstPage, ulong numPages, ulong[] bitmap)
    {
        var slot = Slot(id);
        if (!ManualProtect.HasFlag(ManualProtectFlags.Enable) || DirtyRing is not null)
        {
            return DirtyRing is not null ? -ENXIO : -EINVAL;
        }

        if ((firstPage & 63) != 0 || firstPage > slot.Npages || numPages > slot.Npages - firstPage
            || ((numPages & 63) != 0 && firstPage + numPages != slot.Npages))
        {
            Log.Add($"KVM_CLEAR_DIRTY_LOG memslot {id} [{firstPage}, +{numPages}): -EINVAL");
            return -EINVAL;
        }

        var flush = false;
        var cleared = new ulong[slot.DirtyBitmap.Length];
        for (ulong offset = 0; offset < numPages; offset += 64)
        {
            var word = (int)((firstPage + offset) / 64);
            var mask = bitmap[offset / 64];
            if (numPages - offset < 64)
            {
                mask &= (1UL << (int)(numPages - offset)) - 1;
            }

            // atomic_long_fetch_andnot(): only the bits that were set and are now cleared count.
            mask &= slot.DirtyBitmap[word];
            slot.DirtyBitmap[word] &= ~mask;
            cleared[word] = mask;
            if (mask != 0)
            {
                flush = true;
                EnableLogDirtyPtMasked(slot, slot.BaseGfn + ((ulong)word * 64), mask);
            }
        }

        if (flush)
        {
            FlushRemoteTlbs($"KVM_CLEAR_DIRTY_LOG memslot {id}");
        }

        Log.Add($"KVM_CLEAR_DIRTY_LOG memslot {id}: cleared {DirtyRanges(slot.BaseGfn, cleared)}");
        CheckClearedOnce(slot, cleared);
        AfterOperation("KVM_CLEAR_DIRTY_LOG");
        return 0;
    }

    /// <summary>
    /// kvm_arch_mmu_enable_log_dirty_pt_masked(): with INITIALLY_SET nothing was protected when
    /// logging started, so huge pages covering the range are write-protected first (they split on
    /// the next write); then the 4K pages of the mask are re-protected.
    /// </summary>
    private void EnableLogDirtyPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask)
    {
        if (InitiallySet)
        {
            var start = gfn + (ulong)System.Numerics.BitOperations.TrailingZeroCount(mask);
            var end = gfn + 63 - (ulong)System.Numerics.BitOperations.LeadingZeroCount(mask);
            Mmu.WrprotGfnRange(start, start + 1, 2);
            if (TdpWalker.GfnRoundForLevel(end, 2) != TdpWalker.GfnRoundForLevel(start, 2))
            {
                Mmu.WrprotGfnRange(end, end + 1, 2);
            }
        }

        Mmu.ClearDirtyPtMasked(gfn, mask);
    }
}
