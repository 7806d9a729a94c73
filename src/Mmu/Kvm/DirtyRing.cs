namespace SpecKit.Mmu.Kvm;

/// <summary>struct kvm_dirty_gfn: flags bit 0 DIRTY (KVM published it), bit 1 RESET (userspace collected it).</summary>
public struct KvmDirtyGfn
{
    public const uint Dirty = 1;
    public const uint Reset = 2;

    public uint Flags;
    public int Slot;
    public ulong Offset;
}

/// <summary>
/// One vCPU's dirty ring (virt/kvm/dirty_ring.c): KVM pushes (slot, offset) entries as pages get
/// dirty; userspace harvests entries flagged DIRTY and marks them RESET; KVM_RESET_DIRTY_RINGS
/// re-protects what was harvested. A vCPU exits with KVM_EXIT_DIRTY_RING_FULL when the ring is
/// soft-full, i.e. fewer than the reserved entries are left.
/// </summary>
public sealed class DirtyRing(int size, int reserved)
{
    private readonly KvmDirtyGfn[] _entries = new KvmDirtyGfn[size];

    public int Size { get; } = size;

    /// <summary>kvm_dirty_ring_get_rsvd_entries(): KVM_DIRTY_RING_RSVD_ENTRIES plus the PML buffer size.</summary>
    public int Reserved { get; } = reserved;

    public ulong DirtyIndex { get; private set; }

    public ulong ResetIndex { get; private set; }

    /// <summary>Where userspace's harvesting has got to.</summary>
    public ulong FetchIndex { get; private set; }

    public int Used => (int)(DirtyIndex - ResetIndex);

    public bool SoftFull => Used >= Size - Reserved;

    public bool Full => Used >= Size;

    /// <summary>kvm_dirty_ring_push().</summary>
    public void Push(int slot, ulong offset)
    {
        KvmWarn.On(Full, "kvm_dirty_ring_push: ring full");
        ref var entry = ref _entries[DirtyIndex % (ulong)Size];
        entry.Slot = slot;
        entry.Offset = offset;
        entry.Flags = KvmDirtyGfn.Dirty;
        DirtyIndex++;
    }

    /// <summary>Userspace: read every entry flagged exactly DIRTY, mark it RESET (the selftest's collection).</summary>
    public List<(int Slot, ulong Offset)> Collect()
    {
        var collected = new List<(int, ulong)>();
        for (; FetchIndex < DirtyIndex; FetchIndex++)
        {
            ref var entry = ref _entries[FetchIndex % (ulong)Size];
            if (entry.Flags != KvmDirtyGfn.Dirty)
            {
                break;
            }

            collected.Add((entry.Slot, entry.Offset));
            entry.Flags = KvmDirtyGfn.Reset;
        }

        return collected;
    }

    /// <summary>kvm_dirty_ring_reset(): the entries userspace marked RESET, coalesced into 64-page masks by the caller.</summary>
    public List<(int Slot, ulong Offset)> Reset()
    {
        var reset = new List<(int, ulong)>();
        for (; ResetIndex < DirtyIndex; ResetIndex++)
        {
            ref var entry = ref _entries[ResetIndex % (ulong)Size];
            if ((entry.Flags & KvmDirtyGfn.Reset) == 0)
            {
                break;
            }

            reset.Add((entry.Slot, entry.Offset));
            entry.Flags = 0;
        }

        return reset;
    }
}
