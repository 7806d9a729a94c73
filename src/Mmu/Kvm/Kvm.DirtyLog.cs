using SpecKit.Uapi;
namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>KVM_DIRTY_LOG_MANUAL_CAPS: the flags KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) returns.</summary>
    public const ManualDirtyLogProtect ManualProtectCaps = ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet;

    private readonly DirtyLogChecker _dirtyLog = new();

    public ManualDirtyLogProtect ManualProtect { get; private set; }

    private bool InitiallySet => ManualProtect.HasFlag(ManualDirtyLogProtect.InitiallySet);

    /// <summary>
    /// KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) (kvm_vm_ioctl_enable_cap_generic): flags
    /// outside KVM_DIRTY_LOG_MANUAL_CAPS are -EINVAL, and so is INITIALLY_SET without ENABLE.
    /// </summary>
    public int EnableManualDirtyLogProtect(ManualDirtyLogProtect flags)
    {
        if ((flags & ~ManualProtectCaps) != 0 || flags == ManualDirtyLogProtect.InitiallySet)
        {
            return -(int)Errno.EINVAL;
        }

        ManualProtect = flags;
        Log.Add($"KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: {flags}");
        return 0;
    }

    /// <summary>
    /// kvm_get_dirty_log_protect() (KVM_GET_DIRTY_LOG): -ENXIO with the dirty ring, -EINVAL for a
    /// slot id or address space out of range, -ENOENT for a missing slot or one without a bitmap
    /// (logging off). With manual protect it only copies; otherwise each set word is taken and
    /// cleared (xchg) and its pages re-protected (kvm_arch_mmu_enable_log_dirty_pt_masked), and
    /// the memslot is flushed once if any was set. Fills <paramref name="bitmap"/> (the caller's
    /// buffer of kvm_dirty_bitmap_bytes()) and returns 0, or returns -errno.
    /// </summary>
    public int GetDirtyLog(uint slotId, out ulong[] bitmap)
    {
        bitmap = [];
        if (DirtyRing is not null)
        {
            return DirtyLogRefused("KVM_GET_DIRTY_LOG", slotId, Errno.ENXIO);
        }

        if (CheckDirtyLogSlot(slotId) is not { } slot)
        {
            return DirtyLogRefused("KVM_GET_DIRTY_LOG", slotId, slotId >> 16 != 0 || (slotId & 0xffff) >= KvmUserMemSlots ? Errno.EINVAL : Errno.ENOENT);
        }

        SyncDirtyLog();
        var dirty = slot.DirtyBitmap!;
        if (ManualProtect.HasFlag(ManualDirtyLogProtect.Enable))
        {
            bitmap = (ulong[])dirty.Clone();
            Log.Add($"KVM_GET_DIRTY_LOG memslot {slot.Id} (manual protect): {DirtyRanges(slot.BaseGfn, bitmap)}");
            AfterOperation("KVM_GET_DIRTY_LOG");
            return 0;
        }

        // Word by word under mmu_lock, as the kernel does: take the word (xchg), then re-protect
        // its pages. What is taken is what the bitmap holds now, so the log line comes first.
        Log.Add($"KVM_GET_DIRTY_LOG memslot {slot.Id}: {DirtyRanges(slot.BaseGfn, dirty)}");
        bitmap = new ulong[dirty.Length];
        var flush = false;
        for (var i = 0; i < dirty.Length; i++)
        {
            if (dirty[i] is not 0 and var mask)
            {
                dirty[i] = 0;
                bitmap[i] = mask;
                flush = true;
                Mmu.EnableLogDirtyPtMasked(slot, slot.BaseGfn + ((ulong)i * 64), mask);
            }
        }

        if (flush)
        {
            FlushRemoteTlbs($"KVM_GET_DIRTY_LOG memslot {slot.Id}");
        }

        CheckReported(slot, Offsets(bitmap));
        AfterOperation("KVM_GET_DIRTY_LOG");
        return 0;
    }

    /// <summary>
    /// kvm_clear_dirty_log_protect() (KVM_CLEAR_DIRTY_LOG): the range checks of
    /// <see cref="CheckClearDirtyLog"/>, kvm_arch_sync_dirty_log(), -EFAULT for a user bitmap
    /// shorter than num_pages. Then for each word, the bits that really were set are
    /// cleared (atomic_long_fetch_andnot: bits past the slot's end never were) and their pages
    /// re-protected, and the memslot is flushed once if any were. Manual protection is not
    /// required. Returns 0 or -errno.
    /// </summary>
    public int ClearDirtyLog(uint slotId, ulong firstPage, ulong numPages, ulong[] bitmap)
    {
        const string ioctl = "KVM_CLEAR_DIRTY_LOG";
        if (CheckClearDirtyLog(slotId, firstPage, numPages, out var slot) is not 0 and var refused)
        {
            return refused;
        }

        SyncDirtyLog();
        var words = (int)((numPages + 63) / 64);
        if (bitmap.Length < words)
        {
            return ClearDirtyLogBitmapShort(slot);
        }

        var dirty = slot.DirtyBitmap!;
        var flush = false;
        var cleared = new ulong[dirty.Length];
        for (var n = 0; n < words; n++)
        {
            var word = (int)(firstPage / 64) + n;
            var mask = bitmap[n] & dirty[word];
            dirty[word] &= ~mask;
            cleared[word] = mask;
            flush |= mask != 0;
        }

        Log.Add($"{ioctl} memslot {slot.Id}: cleared {DirtyRanges(slot.BaseGfn, cleared)}");
        for (var word = 0; word < cleared.Length; word++)
        {
            if (cleared[word] != 0)
            {
                Mmu.EnableLogDirtyPtMasked(slot, slot.BaseGfn + ((ulong)word * 64), cleared[word]);
            }
        }

        if (flush)
        {
            FlushRemoteTlbs($"{ioctl} memslot {slot.Id}");
        }

        // With manual protect, a page counts as reported when CLEAR clears it.
        if (ManualProtect.HasFlag(ManualDirtyLogProtect.Enable))
        {
            CheckReported(slot, Offsets(cleared));
        }

        AfterOperation(ioctl);
        return 0;
    }

    /// <summary>
    /// kvm_clear_dirty_log_protect()'s checks before it touches the log (virt/kvm/kvm_main.c):
    /// -ENXIO with the dirty ring; -EINVAL for an address space or slot id out of range or a
    /// first_page not a multiple of 64; -ENOENT for a missing slot or one without a dirty bitmap;
    /// -EINVAL for a first_page past the slot, a range past its end, or a num_pages not a multiple
    /// of 64 that stops short of the end. Returns 0 with the slot, or the -errno (logged). The
    /// -EFAULT of copy_from_user() comes after kvm_arch_sync_dirty_log(), so the caller checks it
    /// (<see cref="ClearDirtyLogBitmapShort"/>).
    /// </summary>
    internal int CheckClearDirtyLog(uint slotId, ulong firstPage, ulong numPages, out KvmMemorySlot slot)
    {
        slot = null!;
        const string ioctl = "KVM_CLEAR_DIRTY_LOG";
        if (DirtyRing is not null)
        {
            return DirtyLogRefused(ioctl, slotId, Errno.ENXIO);
        }

        if (slotId >> 16 != 0 || (slotId & 0xffff) >= KvmUserMemSlots || (firstPage & 63) != 0)
        {
            return DirtyLogRefused(ioctl, slotId, Errno.EINVAL);
        }

        if (CheckDirtyLogSlot(slotId) is not { } found)
        {
            return DirtyLogRefused(ioctl, slotId, Errno.ENOENT);
        }

        slot = found;
        if (firstPage > slot.Npages || numPages > slot.Npages - firstPage || (numPages < slot.Npages - firstPage && (numPages & 63) != 0))
        {
            return DirtyLogRefused(ioctl, slotId, Errno.EINVAL, $"[{firstPage}, +{numPages}) does not fit memslot of {slot.Npages} pages");
        }

        return 0;
    }

    /// <summary>copy_from_user() of a user bitmap shorter than num_pages: -EFAULT (logged).</summary>
    internal int ClearDirtyLogBitmapShort(KvmMemorySlot slot) =>
        DirtyLogRefused("KVM_CLEAR_DIRTY_LOG", (uint)slot.Id, Errno.EFAULT, "the bitmap is shorter than num_pages");

    /// <summary>id_to_memslot() for a dirty-log ioctl: the slot, if it exists and has a dirty bitmap.</summary>
    private KvmMemorySlot? CheckDirtyLogSlot(uint slotId) =>
        slotId >> 16 == 0 && (slotId & 0xffff) < KvmUserMemSlots && SlotById((int)slotId) is { DirtyBitmap: not null } slot ? slot : null;

    private int DirtyLogRefused(string ioctl, uint slotId, Errno errno, string? why = null)
    {
        Log.Add($"{ioctl} memslot {slotId}: -{errno}{(why is null ? "" : $" ({why})")}");
        return -(int)errno;
    }

    /// <summary>
    /// mark_page_dirty_in_slot() as KVM calls it for a dirtying event (make_spte, the fast page
    /// fault, an emulated write, KVM's own writes of guest memory): with the dirty ring, push to
    /// the running vCPU's ring; with no running vCPU the kernel WARNs (the model records it) and
    /// the page is lost. Otherwise set the bitmap bit.
    /// </summary>
    internal void MarkPageDirtyInSlot(KvmMemorySlot slot, ulong gfn)
    {
        if (!slot.DirtyTracked || !slot.Contains(gfn))
        {
            return;
        }

        _dirtyLog.Dirtied(slot, gfn);
        SetDirty(slot, gfn);
    }

    /// <summary>mark_page_dirty() where a policy's RecordsDirty says so: the same write of the log, but no dirtying event.</summary>
    internal void MarkPageDirtyByPolicy(ulong gfn)
    {
        if (FindSlot(gfn) is { DirtyTracked: true } slot)
        {
            SetDirty(slot, gfn);
        }
    }

    private void SetDirty(KvmMemorySlot slot, ulong gfn)
    {
        if (DirtyRing is null)
        {
            var rel = gfn - slot.BaseGfn;
            slot.DirtyBitmap![rel / 64] |= 1UL << (int)(rel % 64);
            return;
        }

        if (RunningVcpu is null)
        {
            Violate("dirty ring without a vCPU", $"gfn 0x{gfn:x} was marked dirty outside a vCPU; the ring cannot record it");
            return;
        }

        RingOf(RunningVcpu).Push(slot.Id, gfn - slot.BaseGfn, slot.Lineage);
    }

    private void StartLogging(KvmMemorySlot slot) => _dirtyLog.StartLogging(slot, InitiallySet && DirtyRing is null);

    private void ForgetLoggingOf(KvmMemorySlot slot) => _dirtyLog.Forget(slot);

    private long _slotLineages;

    /// <summary>
    /// A guest write to <paramref name="gfn"/> completed: if its slot is logged, the page must now
    /// be pending in the log, or in a vCPU's PML log not yet flushed (vmx_flush_pml_buffer puts it
    /// in the log at the next exit, and kvm_arch_sync_dirty_log forces that before any report).
    /// </summary>
    private void CheckWriteLogged(ulong gfn)
    {
        if (!CheckEveryOperation || FindSlot(gfn) is not { DirtyTracked: true } slot || !_dirtyLog.Logs(slot) || slot == _applyingFlags)
        {
            return;
        }

        var offset = gfn - slot.BaseGfn;
        var pending = DirtyRing is null
            ? (slot.DirtyBitmap![offset / 64] & (1UL << (int)(offset % 64))) != 0
            : Vcpus.Any(v => RingOf(v).Outstanding(slot.Lineage, offset));
        if (!pending && !PmlLogged(gfn))
        {
            Violate("dirty page lost", $"gfn 0x{gfn:x} was written but is not pending in the {(DirtyRing is null ? "dirty bitmap" : "dirty ring")}");
        }
    }

    /// <summary>A concurrent fetch took <paramref name="mask"/> from bitmap word <paramref name="word"/>: its pages are reported (each must have been dirtied since).</summary>
    internal void ReportConcurrently(KvmMemorySlot slot, int word, ulong mask)
    {
        var bits = new ulong[word + 1];
        bits[word] = mask;
        CheckReported(slot, Offsets(bits));
    }

    private void CheckReported(KvmMemorySlot slot, IEnumerable<ulong> offsets)
    {
        if (!CheckEveryOperation)
        {
            return;
        }

        foreach (var (gfn, before) in _dirtyLog.Report(slot, offsets, perEvent: DirtyRing is not null))
        {
            Violate("dirty page reported twice", $"gfn 0x{gfn:x} was reported{(before ? " before" : "")} and not dirtied since");
        }
    }

    private static IEnumerable<ulong> Offsets(ulong[] bitmap)
    {
        for (var i = 0; i < bitmap.Length; i++)
        {
            for (var bits = bitmap[i]; bits != 0; bits &= bits - 1)
            {
                yield return ((ulong)i * 64) + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bits);
            }
        }
    }

    public static IEnumerable<ulong> Gfns(ulong baseGfn, ulong[] bitmap) => Offsets(bitmap).Select(o => baseGfn + o);

    /// <summary>A bitmap as GFN ranges, e.g. <c>0x10-0x11, 0x200</c>, or <c>none</c>; whole words are taken 64 bits at a time.</summary>
    public static string DirtyRanges(ulong baseGfn, ulong[] bitmap)
    {
        var ranges = new System.Text.StringBuilder();
        ulong? first = null;
        ulong last = 0;
        for (var w = 0; w < bitmap.Length; w++)
        {
            var word = bitmap[w];
            var wordBase = baseGfn + ((ulong)w * 64);
            if (word == ulong.MaxValue && first is not null && last + 1 == wordBase)
            {
                last = wordBase + 63;
                continue;
            }

            while (word != 0)
            {
                var gfn = wordBase + (ulong)System.Numerics.BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                if (first is not null && gfn == last + 1)
                {
                    last = gfn;
                    continue;
                }

                Append();
                first = last = gfn;
            }
        }

        Append();
        return ranges.Length == 0 ? "none" : ranges.ToString();

        void Append()
        {
            if (first is { } f)
            {
                ranges.Append(ranges.Length == 0 ? "" : ", ").Append(f == last ? $"0x{f:x}" : $"0x{f:x}-0x{last:x}");
            }
        }
    }
}
