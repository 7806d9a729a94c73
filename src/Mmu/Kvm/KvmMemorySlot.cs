namespace SpecKit.Mmu.Kvm;

[Flags]
public enum MemslotFlags
{
    None = 0,

    /// <summary>KVM_MEM_LOG_DIRTY_PAGES.</summary>
    LogDirtyPages = 1,

    /// <summary>KVM_MEM_READONLY.</summary>
    ReadOnly = 2,
}

/// <summary>struct kvm_memory_slot: a run of guest frames backed by host memory, with its dirty bitmap.</summary>
public sealed class KvmMemorySlot(int id, ulong baseGfn, ulong npages, MemslotFlags flags)
{
    public int Id { get; } = id;

    public ulong BaseGfn { get; } = baseGfn;

    public ulong Npages { get; } = npages;

    public MemslotFlags Flags { get; internal set; } = flags;

    /// <summary>One bit per page, 64 pages a word, as kvm_main.c keeps dirty_bitmap.</summary>
    public ulong[] DirtyBitmap { get; } = new ulong[(npages + 63) / 64];

    public bool DirtyTracked => (Flags & MemslotFlags.LogDirtyPages) != 0;

    public bool Contains(ulong gfn) => gfn >= BaseGfn && gfn < BaseGfn + Npages;

    /// <summary>mark_page_dirty_in_slot().</summary>
    public void MarkPageDirty(ulong gfn)
    {
        if (DirtyTracked && Contains(gfn))
        {
            var rel = gfn - BaseGfn;
            DirtyBitmap[rel / 64] |= 1UL << (int)(rel % 64);
        }
    }
}
