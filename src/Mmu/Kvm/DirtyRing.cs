namespace SpecKit.Mmu.Kvm;

/// <summary>struct kvm_dirty_gfn: flags bit 0 DIRTY (KVM published it), bit 1 RESET (userspace collected it).</summary>
public record struct KvmDirtyGfn(uint Flags, int Slot, ulong Offset)
{
    /// <summary>KVM_DIRTY_GFN_F_DIRTY.</summary>
    public const uint Dirty = 1;

    /// <summary>KVM_DIRTY_GFN_F_RESET.</summary>
    public const uint Reset = 2;

    /// <summary>sizeof(struct kvm_dirty_gfn): flags, slot (u32 each) and offset (u64).</summary>
    public const int Size = 16;
}

/// <summary>
/// One vCPU's dirty ring (virt/kvm/dirty_ring.c), as KVM and userspace share it through the mmap:
/// KVM pushes (slot, offset) entries flagged DIRTY as pages get dirty; userspace harvests the
/// entries flagged exactly DIRTY, in order, and flags each RESET; KVM_RESET_DIRTY_RINGS
/// re-protects what was harvested and frees the entries. The vCPU exits with
/// KVM_EXIT_DIRTY_RING_FULL once the ring is soft-full: fewer than the reserved entries left.
/// </summary>
public sealed class DirtyRing(int size, int reserved)
{
    private readonly KvmDirtyGfn[] _entries = new KvmDirtyGfn[size];

    // For the checker: which slot (KvmMemorySlot.Lineage) each entry was pushed for, since a
    // slot deleted and made again reuses the id the entry carries.
    private readonly long[] _lineages = new long[size];

    public int Size { get; } = size;

    /// <summary>kvm_dirty_ring_get_rsvd_entries(): KVM_DIRTY_RING_RSVD_ENTRIES plus the PML buffer size when PML is on (Kvm.DirtyRingRsvdEntries).</summary>
    public int Reserved { get; } = reserved;

    public ulong DirtyIndex { get; private set; }

    public ulong ResetIndex { get; private set; }

    /// <summary>Where userspace's harvesting has got to (its own fetch index).</summary>
    public ulong FetchIndex { get; private set; }

    /// <summary>kvm_dirty_ring_used().</summary>
    public int Used => (int)(DirtyIndex - ResetIndex);

    /// <summary>kvm_dirty_ring_soft_full(): used &gt;= soft_limit, which is size less the reserved entries.</summary>
    public bool SoftFull => Used >= Size - Reserved;

    public bool Full => Used >= Size;

    /// <summary>The entry userspace sees at index <paramref name="index"/> of the mmap'd ring.</summary>
    public KvmDirtyGfn this[ulong index] => _entries[index % (ulong)Size];

    /// <summary>kvm_dirty_ring_push(): the entry is written, then flagged DIRTY (smp_store_release).</summary>
    public void Push(int slot, ulong offset, long lineage)
    {
        KvmWarn.On(Full, "kvm_dirty_ring_push: ring full");
        _entries[DirtyIndex % (ulong)Size] = new KvmDirtyGfn(KvmDirtyGfn.Dirty, slot, offset);
        _lineages[DirtyIndex % (ulong)Size] = lineage;
        DirtyIndex++;
    }

    /// <summary>Userspace reads the entries it has not harvested, from its fetch index, without flagging them.</summary>
    public List<KvmDirtyGfn> Peek()
    {
        var entries = new List<KvmDirtyGfn>();
        for (var i = FetchIndex; i < DirtyIndex && this[i].Flags == KvmDirtyGfn.Dirty; i++)
        {
            entries.Add(this[i]);
        }

        return entries;
    }

    /// <summary>Userspace harvests: every entry flagged exactly DIRTY from its fetch index, flagged RESET in turn (the selftest's collection).</summary>
    public List<KvmDirtyGfn> Harvest() => [.. HarvestWithLineage().Select(e => e.Entry)];

    /// <summary><see cref="Harvest"/>, with the slot each entry was pushed for.</summary>
    internal List<(KvmDirtyGfn Entry, long Lineage)> HarvestWithLineage(int max = int.MaxValue)
    {
        var harvested = new List<(KvmDirtyGfn, long)>();
        for (; FetchIndex < DirtyIndex && harvested.Count < max; FetchIndex++)
        {
            ref var entry = ref _entries[FetchIndex % (ulong)Size];
            if (entry.Flags != KvmDirtyGfn.Dirty)
            {
                break;
            }

            harvested.Add((entry, _lineages[FetchIndex % (ulong)Size]));
            entry.Flags = KvmDirtyGfn.Reset;
        }

        return harvested;
    }

    /// <summary>kvm_dirty_ring_reset()'s walk: the harvested entries from the reset index, each made invalid, in order.</summary>
    public List<KvmDirtyGfn> Reset()
    {
        var reset = new List<KvmDirtyGfn>();
        while (ResetNext() is { } entry)
        {
            reset.Add(entry);
        }

        return reset;
    }

    /// <summary>
    /// One round of kvm_dirty_ring_reset()'s loop (dirty_ring.c): the entry at the reset index, if
    /// kvm_dirty_gfn_harvested() (RESET set), has its slot and offset read, is made invalid
    /// (kvm_dirty_gfn_set_invalid) and reset_index moves on; null where the walk stops.
    /// </summary>
    internal KvmDirtyGfn? ResetNext()
    {
        if (ResetIndex >= DirtyIndex)
        {
            return null;
        }

        ref var entry = ref _entries[ResetIndex % (ulong)Size];
        if ((entry.Flags & KvmDirtyGfn.Reset) == 0)
        {
            return null;
        }

        var reset = entry;
        entry.Flags = 0;
        ResetIndex++;
        return reset;
    }

    /// <summary>
    /// Userspace's store-release of KVM_DIRTY_GFN_F_RESET into the entry at its fetch index, which
    /// it has read flagged exactly DIRTY (api.rst, KVM_CAP_DIRTY_LOG_RING: "mark the flags from
    /// state 01b to 1Xb"), and its fetch index moves on.
    /// </summary>
    internal (KvmDirtyGfn Entry, long Lineage) HarvestNext()
    {
        ref var entry = ref _entries[FetchIndex % (ulong)Size];
        KvmWarn.On(FetchIndex >= DirtyIndex || entry.Flags != KvmDirtyGfn.Dirty, "userspace harvests an entry not flagged DIRTY");
        var harvested = (entry, _lineages[FetchIndex % (ulong)Size]);
        entry.Flags = KvmDirtyGfn.Reset;
        FetchIndex++;
        return harvested;
    }

    /// <summary>Whether an entry for the page at <paramref name="offset"/> of slot <paramref name="lineage"/> is pushed and not yet reset.</summary>
    internal bool Outstanding(long lineage, ulong offset)
    {
        for (var i = ResetIndex; i < DirtyIndex; i++)
        {
            if (_lineages[i % (ulong)Size] == lineage && this[i].Offset == offset)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// kvm_dirty_ring_reset()'s coalescing (dirty_ring.c): "Try to coalesce the reset operations when
/// the guest is scanning pages in the same slot": an entry of the current slot within 64 pages of
/// the mask's offset (backwards too, if no bit would be shifted out) joins the mask; any other
/// closes it, to be re-protected by kvm_reset_dirty_gfn(), and starts the next.
/// </summary>
internal sealed class DirtyGfnCoalescer
{
    private int? _slot;
    private ulong _offset;
    private ulong _mask;

    /// <summary>The mask being built (mask 0 before the first entry: kvm_reset_dirty_gfn's first call has nothing to do).</summary>
    public (int? Slot, ulong Offset, ulong Mask) Current => (_slot, _offset, _mask);

    /// <summary>Adds <paramref name="entry"/>; returns the mask it closes, or null if it joined the current one.</summary>
    public (int? Slot, ulong Offset, ulong Mask)? Add(KvmDirtyGfn entry)
    {
        if (_slot == entry.Slot)
        {
            var delta = (long)entry.Offset - (long)_offset;
            if (delta is >= 0 and < 64)
            {
                _mask |= 1UL << (int)delta;
                return null;
            }

            // "Backwards visit, careful about overflows!"
            if (delta is > -64 and < 0 && (_mask << (int)-delta >> (int)-delta) == _mask)
            {
                _offset = entry.Offset;
                _mask = (_mask << (int)-delta) | 1;
                return null;
            }
        }

        var closed = Current;
        (_slot, _offset, _mask) = (entry.Slot, entry.Offset, 1);
        return closed;
    }
}
