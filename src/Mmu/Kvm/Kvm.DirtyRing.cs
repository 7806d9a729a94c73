namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>KVM_DIRTY_RING_RSVD_ENTRIES [unverified in kvm-reference.md: 64].</summary>
    public const int DirtyRingReservedEntries = 64;

    /// <summary>The ring size when KVM_CAP_DIRTY_LOG_RING is enabled; null when the bitmap is used.</summary>
    public int? DirtyRing { get; private set; }

    private readonly Dictionary<int, DirtyRing> _rings = [];

    /// <summary>The vCPU whose access is running, for mark_page_dirty_in_slot's kvm_get_running_vcpu().</summary>
    public KvmVcpu? RunningVcpu { get; private set; }

    /// <summary>KVM_CAP_DIRTY_LOG_RING: must come before any vCPU is created.</summary>
    public int EnableDirtyRing(int entries)
    {
        if (Vcpus.Count > 0)
        {
            return -EINVAL;
        }

        DirtyRing = entries;
        Log.Add($"KVM_CAP_DIRTY_LOG_RING: {entries} entries per vCPU");
        return 0;
    }

    public DirtyRing RingOf(KvmVcpu vcpu)
    {
        if (!_rings.TryGetValue(vcpu.Id, out var ring))
        {
            ring = new DirtyRing(DirtyRing ?? throw new InvalidOperationException("the dirty ring is not enabled"), DirtyRingReservedEntries);
            _rings[vcpu.Id] = ring;
        }

        return ring;
    }

    /// <summary>
    /// mark_page_dirty_in_slot(): with the dirty ring, push to the running vCPU's ring; with no
    /// running vCPU the kernel WARNs (the model records it) and the page is lost. Otherwise set
    /// the bitmap bit.
    /// </summary>
    internal void MarkPageDirtyInSlot(KvmMemorySlot slot, ulong gfn)
    {
        if (!slot.DirtyTracked || !slot.Contains(gfn))
        {
            return;
        }

        if (DirtyRing is null)
        {
            slot.MarkPageDirty(gfn);
            return;
        }

        if (RunningVcpu is null)
        {
            Violate("dirty ring without a vCPU", $"gfn 0x{gfn:x} was marked dirty outside a vCPU; the ring cannot record it");
            return;
        }

        RingOf(RunningVcpu).Push(slot.Id, gfn - slot.BaseGfn);
    }

    /// <summary>Userspace harvests every vCPU's ring; returns the GFNs in ring order.</summary>
    public List<ulong> CollectDirtyRings()
    {
        var gfns = new List<ulong>();
        foreach (var vcpu in Vcpus)
        {
            foreach (var (slotId, offset) in RingOf(vcpu).Collect())
            {
                gfns.Add(Slot(slotId).BaseGfn + offset);
            }
        }

        Log.Add($"collect dirty rings: {(gfns.Count == 0 ? "none" : string.Join(", ", gfns.Select(g => $"0x{g:x}")))}");
        if (CheckEveryOperation)
        {
            // What was collected is what was reported: every logging slot is checked, so a page
            // written but never pushed shows up as lost even when nothing was collected.
            foreach (var slot in Memslots.Where(s => s.DirtyTracked))
            {
                var bitmap = new ulong[slot.DirtyBitmap.Length];
                foreach (var gfn in gfns.Where(slot.Contains))
                {
                    var rel = gfn - slot.BaseGfn;
                    bitmap[rel / 64] |= 1UL << (int)(rel % 64);
                }

                CheckReportedOnce(slot, bitmap);
            }
        }

        return gfns;
    }

    /// <summary>
    /// KVM_RESET_DIRTY_RINGS: re-protect the harvested GFNs, coalesced into 64-page masks, then
    /// flush; returns how many entries were reset.
    /// </summary>
    public int ResetDirtyRings()
    {
        var count = 0;
        var flush = false;
        foreach (var vcpu in Vcpus)
        {
            var reset = RingOf(vcpu).Reset();
            count += reset.Count;
            foreach (var group in reset.GroupBy(e => (e.Slot, Word: e.Offset / 64)))
            {
                var slot = Slot(group.Key.Slot);
                var mask = group.Aggregate(0UL, (m, e) => m | (1UL << (int)(e.Offset % 64)));
                Mmu.ClearDirtyPtMasked(slot.BaseGfn + (group.Key.Word * 64), mask);
                flush = true;
            }
        }

        if (flush)
        {
            FlushRemoteTlbs("KVM_RESET_DIRTY_RINGS");
        }

        Log.Add($"KVM_RESET_DIRTY_RINGS: {count} entries reset");
        AfterOperation("KVM_RESET_DIRTY_RINGS");
        return count;
    }
}
