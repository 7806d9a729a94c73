namespace SpecKit.Mmu.Kvm;

/// <summary>
/// The checker's view of dirty logging, slot by slot and page by page (by offset in the slot,
/// so it follows a slot that moves), holding the kernel's contract and no more:
/// <list type="bullet">
/// <item>no page is lost: once a guest write to a logged slot completes, the page is pending in
/// the log (its bitmap bit set, or a ring entry for it pushed and not yet reset): the write
/// faulted and KVM marked it, or the page was pending already, e.g. harvested and not yet reset,
/// which api.rst's contract (harvest, RESET, then read the contents) covers;</item>
/// <item>no page is reported twice: each page a fetch reports (GET_DIRTY_LOG without manual
/// protect, CLEAR_DIRTY_LOG's cleared bits with it, a ring collection) had a dirtying event since
/// it was last reported: mark_page_dirty_in_slot() from make_spte() (a writable SPTE installed
/// while logging, which a read fault does when the host page is writable), from the fast page
/// fault's W 0 -&gt; 1, from an emulated write or from KVM's own writes to guest memory, or the
/// INITIALLY_SET bits. A mark that a policy's RecordsDirty adds on a path that changes no
/// translation is not such an event: it is what seed 001 is about.</item>
/// </list>
/// Logging that stops, or a slot that goes, forgets its pages; ring entries of a slot that is
/// gone, or was made again under the same id, are not the new slot's reports.
/// </summary>
internal sealed class DirtyLogChecker
{
    private sealed class SlotLog
    {
        /// <summary>Pages with a dirtying event since they were last reported.</summary>
        public HashSet<ulong> Dirtied { get; } = [];

        /// <summary>Pages reported at least once, for the message.</summary>
        public HashSet<ulong> Reported { get; } = [];
    }

    private readonly Dictionary<KvmMemorySlot, SlotLog> _slots = [];

    public void StartLogging(KvmMemorySlot slot, bool initiallySet)
    {
        var log = new SlotLog();
        if (initiallySet)
        {
            for (ulong page = 0; page < slot.Npages; page++)
            {
                log.Dirtied.Add(page);
            }
        }

        _slots[slot] = log;
    }

    public void Forget(KvmMemorySlot slot) => _slots.Remove(slot);

    public void Move(KvmMemorySlot from, KvmMemorySlot to)
    {
        if (_slots.Remove(from, out var log))
        {
            _slots[to] = log;
        }
    }

    public bool Logs(KvmMemorySlot slot) => _slots.ContainsKey(slot);

    /// <summary>A dirtying event for the page at <paramref name="gfn"/>.</summary>
    public void Dirtied(KvmMemorySlot slot, ulong gfn)
    {
        if (_slots.TryGetValue(slot, out var log))
        {
            log.Dirtied.Add(gfn - slot.BaseGfn);
        }
    }

    /// <summary>
    /// The pages a fetch reported for <paramref name="slot"/>: each must have been dirtied since it
    /// was last reported. Returns the pages reported again without a dirtying event.
    /// </summary>
    public List<(ulong Gfn, bool ReportedBefore)> Report(KvmMemorySlot slot, IEnumerable<ulong> offsets)
    {
        var twice = new List<(ulong, bool)>();
        if (!_slots.TryGetValue(slot, out var log))
        {
            return twice;
        }

        foreach (var offset in offsets)
        {
            if (!log.Dirtied.Remove(offset))
            {
                twice.Add((slot.BaseGfn + offset, log.Reported.Contains(offset)));
            }

            log.Reported.Add(offset);
        }

        return twice;
    }
}
