using SpecKit.Uapi;
namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>KVM_DIRTY_RING_RSVD_ENTRIES (kvm_dirty_ring.h): room kept for pushes after the soft-full exit is due.</summary>
    public const int DirtyRingReservedEntries = 64;

    /// <summary>
    /// kvm_dirty_ring_get_rsvd_entries() (dirty_ring.c): KVM_DIRTY_RING_RSVD_ENTRIES plus
    /// kvm_cpu_dirty_log_size(), the PML log a flush may push at once (PML_LOG_NR_ENTRIES with enable_pml).
    /// </summary>
    public int DirtyRingRsvdEntries => DirtyRingReservedEntries + (EnablePml ? KvmVcpu.PmlLogNrEntries : 0);

    /// <summary>KVM_DIRTY_RING_MAX_ENTRIES (kvm_dirty_ring.h).</summary>
    public const int DirtyRingMaxEntries = 65536;

    /// <summary>The ring size in entries once KVM_CAP_DIRTY_LOG_RING is enabled; null while the bitmap is used.</summary>
    public int? DirtyRing { get; private set; }

    private readonly Dictionary<int, DirtyRing> _rings = [];

    /// <summary>The vCPU whose access is running, for mark_page_dirty_in_slot's kvm_get_running_vcpu().</summary>
    public KvmVcpu? RunningVcpu { get; private set; }

    /// <summary>
    /// KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) with the ring size in bytes
    /// (kvm_vm_ioctl_enable_dirty_log_ring): a power of two, at least a page and room for the
    /// reserved entries, else -EINVAL; more than KVM_DIRTY_RING_MAX_ENTRIES entries is -E2BIG;
    /// only once, and only before any vCPU exists (-EINVAL).
    /// </summary>
    public int EnableDirtyRing(uint bytes)
    {
        var refused = bytes == 0 || (bytes & (bytes - 1)) != 0 || bytes < DirtyRingRsvdEntries * KvmDirtyGfn.Size || bytes < 4096 ? -(int)Errno.EINVAL
            : bytes > (ulong)DirtyRingMaxEntries * KvmDirtyGfn.Size ? -(int)Errno.E2BIG
            : DirtyRing is not null || Vcpus.Count > 0 ? -(int)Errno.EINVAL
            : 0;
        if (refused != 0)
        {
            Log.Add($"KVM_CAP_DIRTY_LOG_RING {bytes} bytes: {new KvmResult(refused)}");
            return refused;
        }

        DirtyRing = (int)(bytes / KvmDirtyGfn.Size);
        Log.Add($"KVM_CAP_DIRTY_LOG_RING: {DirtyRing} entries per vCPU");
        return 0;
    }

    public DirtyRing RingOf(KvmVcpu vcpu)
    {
        if (!_rings.TryGetValue(vcpu.Id, out var ring))
        {
            ring = new DirtyRing(DirtyRing ?? throw new InvalidOperationException("the dirty ring is not enabled"), DirtyRingRsvdEntries);
            _rings[vcpu.Id] = ring;
        }

        return ring;
    }

    /// <summary>
    /// Userspace harvests every vCPU's ring, vCPU by vCPU: the entries in ring order. Each
    /// harvested entry counts as the page's report (it must have been dirtied since the last one).
    /// </summary>
    public List<KvmDirtyGfn> HarvestDirtyRings()
    {
        // Userspace kicks the vCPUs out first (QEMU's reaper: kvm_cpu_synchronize_kick_all), and
        // each exit flushes the vCPU's PML log into its ring (__vmx_handle_exit).
        SyncDirtyLog();
        var harvested = Vcpus.SelectMany(v => RingOf(v).HarvestWithLineage()).ToList();
        Log.Add($"collect dirty rings: {(harvested.Count == 0 ? "none" : string.Join(", ", harvested.Select(e => DescribeEntry(e.Entry))))}");
        return Reported(harvested);
    }

    /// <summary>Userspace harvests up to <paramref name="max"/> entries of one vCPU's mmap'd ring, as <see cref="HarvestDirtyRings"/> does for all.</summary>
    public List<KvmDirtyGfn> HarvestDirtyRing(KvmVcpu vcpu, int max = int.MaxValue)
    {
        FlushPmlBuffer(vcpu);
        var harvested = RingOf(vcpu).HarvestWithLineage(max);
        Log.Add($"collect vCPU {vcpu.Id}'s dirty ring: {(harvested.Count == 0 ? "none" : string.Join(", ", harvested.Select(e => DescribeEntry(e.Entry))))}");
        return Reported(harvested);
    }

    private List<KvmDirtyGfn> Reported(List<(KvmDirtyGfn Entry, long Lineage)> harvested)
    {
        // An entry reports the page of the slot it was pushed for, which may be gone, or deleted
        // and made again under the same id (a new slot, whose pages it does not report).
        foreach (var group in harvested.GroupBy(e => e.Lineage))
        {
            if (Memslots.FirstOrDefault(s => s.Lineage == group.Key) is { } slot)
            {
                CheckReported(slot, group.Select(e => e.Entry.Offset).Where(o => o < slot.Npages));
            }
        }

        return [.. harvested.Select(e => e.Entry)];
    }

    /// <summary>An entry as the log shows it: the GFN through its slot, or the raw (slot, offset) for a slot that is gone.</summary>
    private string DescribeEntry(KvmDirtyGfn entry) =>
        SlotById(entry.Slot) is { } slot && entry.Offset < slot.Npages ? $"0x{slot.BaseGfn + entry.Offset:x}" : $"slot {entry.Slot} offset 0x{entry.Offset:x}";

    /// <summary>
    /// KVM_RESET_DIRTY_RINGS (kvm_vm_ioctl_reset_dirty_pages): -EINVAL without the ring; otherwise
    /// each vCPU's harvested entries are freed in order, runs of the same slot within 64 pages of
    /// each other coalesced into one mask (kvm_dirty_ring_reset), each mask re-protected if its slot
    /// still exists and holds the pages (kvm_reset_dirty_gfn), and TLBs flushed if any entry was
    /// reset. Returns how many entries were reset.
    /// </summary>
    public int ResetDirtyRings()
    {
        if (DirtyRing is null)
        {
            Log.Add("KVM_RESET_DIRTY_RINGS: -EINVAL (no dirty ring)");
            return -(int)Errno.EINVAL;
        }

        var resets = Vcpus.Select(v => RingOf(v).Reset()).ToList();
        var count = resets.Sum(r => r.Count);
        Log.Add($"KVM_RESET_DIRTY_RINGS: {count} entries reset");
        foreach (var reset in resets)
        {
            var coalescer = new DirtyGfnCoalescer();
            foreach (var entry in reset)
            {
                if (coalescer.Add(entry) is { } closed)
                {
                    ResetDirtyGfn(closed.Slot, closed.Offset, closed.Mask);
                }
            }

            ResetDirtyGfn(coalescer.Current.Slot, coalescer.Current.Offset, coalescer.Current.Mask);
        }

        if (count > 0)
        {
            FlushRemoteTlbs("KVM_RESET_DIRTY_RINGS");
        }

        AfterOperation("KVM_RESET_DIRTY_RINGS");
        return count;
    }

    /// <summary>kvm_reset_dirty_gfn(): re-protect one coalesced mask, unless the slot is gone or no longer holds the pages.</summary>
    private void ResetDirtyGfn(int? slotId, ulong offset, ulong mask)
    {
        if (DirtyGfnResetSlot(slotId, offset, mask) is { } slot)
        {
            Mmu.EnableLogDirtyPtMasked(slot, slot.BaseGfn + offset, mask);
        }
    }

    /// <summary>kvm_reset_dirty_gfn()'s checks: the memslot a mask re-protects, or null if the slot is gone or no longer holds the pages (offset + __fls(mask) &gt;= npages).</summary>
    internal KvmMemorySlot? DirtyGfnResetSlot(int? slotId, ulong offset, ulong mask) =>
        mask == 0 || slotId is not { } id || SlotById(id) is not { } slot || offset + 63 - (ulong)System.Numerics.BitOperations.LeadingZeroCount(mask) >= slot.Npages ? null : slot;
}
