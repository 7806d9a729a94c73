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
/// Logging that stops forgets the bitmap's pages (the bitmap is freed), not the ring's (entries
/// stay in the rings); a slot that goes forgets its pages, and ring entries of a slot that is
/// gone, or was made again under the same id, are not the new slot's reports.
/// </summary>
internal sealed class DirtyLogChecker
{
    private sealed class SlotLog
    {
        /// <summary>
        /// Pages with dirtying events since they were last reported, and how many: with the ring
        /// each event pushes an entry (kvm_dirty_ring_push) and each harvested entry reports one;
        /// a bitmap bit reports them all.
        /// </summary>
        public Dictionary<ulong, int> Dirtied { get; } = [];

        /// <summary>Pages reported at least once, for the message.</summary>
        public HashSet<ulong> Reported { get; } = [];
    }

    // By KvmMemorySlot.Lineage: a slot keeps its log across moves (the bitmap follows it) and,
    // with the dirty ring, across logging turned off and on (its ring entries stay).
    private readonly Dictionary<long, SlotLog> _slots = [];

    public void StartLogging(KvmMemorySlot slot, bool initiallySet)
    {
        if (_slots.ContainsKey(slot.Lineage))
        {
            return;
        }

        var log = new SlotLog();
        if (initiallySet)
        {
            for (ulong page = 0; page < slot.Npages; page++)
            {
                log.Dirtied[page] = 1;
            }
        }

        _slots[slot.Lineage] = log;
    }

    public void Forget(KvmMemorySlot slot) => _slots.Remove(slot.Lineage);

    public bool Logs(KvmMemorySlot slot) => _slots.ContainsKey(slot.Lineage);

    /// <summary>A dirtying event for the page at <paramref name="gfn"/>.</summary>
    public void Dirtied(KvmMemorySlot slot, ulong gfn)
    {
        if (_slots.TryGetValue(slot.Lineage, out var log))
        {
            log.Dirtied[gfn - slot.BaseGfn] = log.Dirtied.GetValueOrDefault(gfn - slot.BaseGfn) + 1;
        }
    }

    /// <summary>
    /// The pages a fetch reported for <paramref name="slot"/> (<paramref name="perEvent"/>: ring
    /// entries, one report per dirtying event; else bitmap bits, one report for all): each must
    /// have been dirtied since it was last reported. Returns the pages reported again without a
    /// dirtying event.
    /// </summary>
    public List<(ulong Gfn, bool ReportedBefore)> Report(KvmMemorySlot slot, IEnumerable<ulong> offsets, bool perEvent)
    {
        var twice = new List<(ulong, bool)>();
        if (!_slots.TryGetValue(slot.Lineage, out var log))
        {
            return twice;
        }

        foreach (var offset in offsets)
        {
            if (!log.Dirtied.TryGetValue(offset, out var events))
            {
                twice.Add((slot.BaseGfn + offset, log.Reported.Contains(offset)));
            }
            else if (perEvent && events > 1)
            {
                log.Dirtied[offset] = events - 1;
            }
            else
            {
                log.Dirtied.Remove(offset);
            }

            log.Reported.Add(offset);
        }

        return twice;
    }
}
