namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>Guest writes to dirty-tracked slots since the last fetch, per slot: what the next fetch must report, once.</summary>
    private readonly Dictionary<int, HashSet<ulong>> _writtenSinceFetch = [];
    private readonly Dictionary<int, HashSet<ulong>> _reportedBefore = [];

    /// <summary>
    /// kvm_mmu_slot_apply_flags(): enabling dirty logging write-protects every leaf down to 4K
    /// (huge pages too, so the next write splits them) and always flushes; disabling it flushes
    /// so huge pages can come back on the next faults.
    /// </summary>
    /// <summary>The eager_page_split module parameter (default on): split huge pages when logging starts, on the ioctl thread.</summary>
    public bool EagerPageSplit { get; set; } = true;

    public void SetMemslotFlags(int id, MemslotFlags flags)
    {
        var slot = Slot(id);
        var wasLogging = slot.DirtyTracked;
        slot.Flags = flags;
        if (!wasLogging && slot.DirtyTracked)
        {
            _writtenSinceFetch[id] = [];
            _reportedBefore[id] = [];
            if (InitiallySet)
            {
                // kvm_mmu_slot_apply_flags(): with INITIALLY_SET every page starts dirty and nothing
                // is write-protected; each KVM_CLEAR_DIRTY_LOG protects what it clears.
                Array.Fill(slot.DirtyBitmap, ulong.MaxValue);
                for (var gfn = slot.BaseGfn; gfn < slot.BaseGfn + slot.Npages; gfn++)
                {
                    _writtenSinceFetch[id].Add(gfn);
                }

                Log.Add($"dirty logging enabled on memslot {id}: initially set, nothing write-protected");
            }
            else
            {
                if (EagerPageSplit)
                {
                    var split = Mmu.SplitHugePages(slot.BaseGfn, slot.BaseGfn + slot.Npages, 1);
                    if (split > 0)
                    {
                        Log.Add($"eager page split on memslot {id}: {split} huge page(s) split to 4K");
                    }
                }

                Mmu.WrprotGfnRange(slot.BaseGfn, slot.BaseGfn + slot.Npages, 1);
                FlushRemoteTlbs($"dirty logging enabled on memslot {id}");
            }
        }
        else if (wasLogging && !slot.DirtyTracked)
        {
            // kvm_mmu_recover_huge_pages() (v6.13+), then flush the memslot.
            var recovered = Mmu.RecoverHugePages(slot.BaseGfn, slot.BaseGfn + slot.Npages, gfn => HugePageAdjust(slot, gfn));
            Log.Add($"dirty logging disabled on memslot {id}: {recovered} huge page(s) recovered");
            FlushRemoteTlbs($"dirty logging disabled on memslot {id}");
        }

        AfterOperation("KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>
    /// KVM_GET_DIRTY_LOG without manual protect (kvm_get_dirty_log_protect): for each word,
    /// take and clear it, re-protect its pages, then flush once if anything was set.
    /// </summary>
    public ulong[] GetDirtyLog(int id)
    {
        var slot = Slot(id);
        if (DirtyRing is not null)
        {
            throw new InvalidOperationException("KVM_GET_DIRTY_LOG: -ENXIO, the dirty ring replaces the bitmap");
        }

        if (ManualProtect.HasFlag(ManualProtectFlags.Enable))
        {
            // With manual protect GET only copies: no clearing, no protection, no flush.
            var copy = (ulong[])slot.DirtyBitmap.Clone();
            Log.Add($"KVM_GET_DIRTY_LOG memslot {id} (manual protect): {DirtyRanges(slot.BaseGfn, copy)}");
            return copy;
        }

        var snapshot = new ulong[slot.DirtyBitmap.Length];
        var flush = false;
        for (var i = 0; i < snapshot.Length; i++)
        {
            var mask = slot.DirtyBitmap[i];
            slot.DirtyBitmap[i] = 0;
            snapshot[i] = mask;
            if (mask != 0)
            {
                flush = true;
                Mmu.ClearDirtyPtMasked(slot.BaseGfn + ((ulong)i * 64), mask);
            }
        }

        if (flush)
        {
            FlushRemoteTlbs($"KVM_GET_DIRTY_LOG memslot {id}");
        }

        Log.Add($"KVM_GET_DIRTY_LOG memslot {id}: {DirtyRanges(slot.BaseGfn, snapshot)}");
        if (CheckEveryOperation)
        {
            CheckReportedOnce(slot, snapshot);
        }

        AfterOperation("KVM_GET_DIRTY_LOG");
        return snapshot;
    }

    /// <summary>With manual protect, a page counts as reported when KVM_CLEAR_DIRTY_LOG clears it: it must have been written since.</summary>
    private void CheckClearedOnce(KvmMemorySlot slot, ulong[] cleared)
    {
        if (!CheckEveryOperation || !_writtenSinceFetch.TryGetValue(slot.Id, out var written))
        {
            return;
        }

        foreach (var gfn in Gfns(slot.BaseGfn, cleared))
        {
            if (!written.Remove(gfn))
            {
                Violate("dirty page reported twice", $"gfn 0x{gfn:x} was cleared from the log again without a write since");
            }
        }
    }

    private void RecordWrite(ulong gfn, bool write)
    {
        if (write && FindSlot(gfn) is { DirtyTracked: true } slot)
        {
            _writtenSinceFetch[slot.Id].Add(gfn);
        }
    }

    /// <summary>Every guest write while logging is reported exactly once: in the first fetch after it, and not again.</summary>
    private void CheckReportedOnce(KvmMemorySlot slot, ulong[] snapshot)
    {
        if (!_writtenSinceFetch.TryGetValue(slot.Id, out var written))
        {
            return;
        }

        var reported = Gfns(slot.BaseGfn, snapshot).ToHashSet();
        foreach (var gfn in written.Where(g => !reported.Contains(g)).Order())
        {
            Violate("dirty page lost", $"gfn 0x{gfn:x} was written but not reported");
        }

        foreach (var gfn in reported.Where(g => !written.Contains(g)).Order())
        {
            Violate("dirty page reported twice", $"gfn 0x{gfn:x} was reported{(_reportedBefore[slot.Id].Contains(gfn) ? " before" : "")} and not written since");
        }

        _reportedBefore[slot.Id].UnionWith(reported);
        written.Clear();
    }

    public static IEnumerable<ulong> Gfns(ulong baseGfn, ulong[] bitmap)
    {
        for (var i = 0; i < bitmap.Length; i++)
        {
            for (var bit = 0; bit < 64; bit++)
            {
                if ((bitmap[i] & (1UL << bit)) != 0)
                {
                    yield return baseGfn + ((ulong)i * 64) + (ulong)bit;
                }
            }
        }
    }

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
