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

    // slot->arch.gfn_write_track and lpage_info[].disallow_lpage, kept sparse: only counts above zero.
    private readonly Dictionary<ulong, int> _writeTrack = [];
    private readonly Dictionary<(int Level, ulong Index), int> _disallowLpage = [];

    /// <summary>kvm_gfn_is_write_tracked().</summary>
    public bool IsWriteTracked(ulong gfn) => _writeTrack.Count > 0 && _writeTrack.ContainsKey(gfn);

    /// <summary>
    /// lpage_info_slot(gfn, slot, level)->disallow_lpage != 0: the huge page at <paramref name="level"/>
    /// holding <paramref name="gfn"/> reaches past the slot (kvm_alloc_memslot_metadata() disallows
    /// the head and tail), or a GFN in it is write-tracked (kvm_mmu_gfn_disallow_lpage()).
    /// </summary>
    public bool LpageDisallowed(ulong gfn, int level)
    {
        var start = TdpWalker.GfnRoundForLevel(gfn, level);
        if (start < BaseGfn || start + TdpWalker.PagesPerHpage(level) > BaseGfn + Npages)
        {
            return true;
        }

        return _disallowLpage.Count > 0 && _disallowLpage.ContainsKey((level, start));
    }

    /// <summary>update_gfn_write_track() and update_gfn_disallow_lpage_count() for every huge level: +1 or -1.</summary>
    internal void UpdateWriteTrack(ulong gfn, int delta)
    {
        RefCounts.Add(_writeTrack, gfn, delta, "write-track");
        for (var level = 2; level <= TdpWalker.MaxHugePageLevel; level++)
        {
            RefCounts.Add(_disallowLpage, (level, TdpWalker.GfnRoundForLevel(gfn, level)), delta, "disallow_lpage");
        }
    }

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
