using SpecKit.Mmu.Tdp;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// struct kvm_memory_slot: a run of guest frames backed by a range of the process's memory
/// (userspace_addr), with its dirty bitmap while dirty logging is on, and the per-slot counts
/// the x86 MMU keeps (gfn_write_track, lpage_info's disallow_lpage).
/// </summary>
public sealed class KvmMemorySlot
{
    internal KvmMemorySlot(int id, ulong baseGfn, ulong npages, MemoryRegionFlags flags, ulong userspacePage)
    {
        Id = id;
        BaseGfn = baseGfn;
        Npages = npages;
        Flags = flags;
        UserspacePage = userspacePage;
    }

    /// <summary>The slot id userspace gave (as_id 0).</summary>
    public int Id { get; }

    /// <summary>
    /// Which KVM_MR_CREATE this slot comes from: kept across moves and flag changes, new when a
    /// slot is deleted and made again under the same id. For the checker only: a ring entry
    /// names its slot by id, which a re-created slot reuses.
    /// </summary>
    internal long Lineage { get; init; }

    public ulong BaseGfn { get; }

    public ulong Npages { get; }

    public ulong EndGfn => BaseGfn + Npages;

    public MemoryRegionFlags Flags { get; internal set; }

    /// <summary>userspace_addr &gt;&gt; PAGE_SHIFT: the first user page behind the slot.</summary>
    public ulong UserspacePage { get; }

    /// <summary>
    /// One bit per page, 64 pages a word, as kvm_main.c keeps dirty_bitmap: allocated (zeroed, or
    /// with exactly npages bits set under INITIALLY_SET) when logging is turned on, and freed when
    /// it is turned off (kvm_prepare_memory_region); null while logging is off or with the ring.
    /// </summary>
    public ulong[]? DirtyBitmap { get; internal set; }

    public bool DirtyTracked => (Flags & MemoryRegionFlags.LogDirtyPages) != 0;

    /// <summary>
    /// kvm_arch_memory_slot.rmap: the shadow MMU's reverse maps of the slot's frames, made on
    /// first use (the TDP MMU keeps none); a moved or re-created slot starts without them, as
    /// kvm_alloc_memslot_metadata() allocates new ones.
    /// </summary>
    internal Shadow.SlotRmaps? Rmaps { get; set; }

    public bool ReadOnly => (Flags & MemoryRegionFlags.ReadOnly) != 0;

    /// <summary>
    /// KVM_MEMSLOT_INVALID (kvm_host.h, a flag only KVM sets): this is the copy of a slot that
    /// KVM_SET_USER_MEMORY_REGION is deleting or moving, published by kvm_invalidate_memslot()
    /// before the slot's SPTEs are zapped; it stays until the delete or move swaps it out.
    /// </summary>
    public bool Invalid { get; private init; }

    public bool Contains(ulong gfn) => gfn >= BaseGfn && gfn < EndGfn;

    /// <summary>__gfn_to_hva_memslot(): the user page behind <paramref name="gfn"/>.</summary>
    public ulong GfnToHvpn(ulong gfn) => UserspacePage + (gfn - BaseGfn);

    // slot->arch.gfn_write_track and lpage_info[].disallow_lpage, kept sparse: only counts above zero.
    private Dictionary<ulong, int> _writeTrack = [];
    private Dictionary<(int Level, ulong Index), int> _disallowLpage = [];

    /// <summary>kvm_copy_memslot() of this slot with KVM_MEMSLOT_INVALID set (kvm_invalidate_memslot).</summary>
    internal KvmMemorySlot AsInvalid() => Copy(Flags, invalid: true);

    /// <summary>
    /// The new slot of a KVM_MR_FLAGS_ONLY change as kvm_set_memslot() makes it: a copy with
    /// <paramref name="flags"/>, which keeps the old slot's arch metadata
    /// (kvm_arch_prepare_memory_region: "memcpy(&amp;new->arch, &amp;old->arch, sizeof(old->arch))")
    /// and its dirty bitmap, until kvm_prepare_memory_region() changes that. The old slot stays
    /// what a vCPU that read it before the swap sees.
    /// </summary>
    internal KvmMemorySlot WithFlags(MemoryRegionFlags flags) => Copy(flags, invalid: false);

    /// <summary>
    /// The new slot of a KVM_MR_MOVE: the same host memory at <paramref name="baseGfn"/>, with
    /// <paramref name="flags"/> and the old slot's dirty bitmap (kvm_prepare_memory_region:
    /// "new->dirty_bitmap = old->dirty_bitmap"); its arch metadata starts afresh, as
    /// kvm_arch_prepare_memory_region() allocates it for the new range.
    /// </summary>
    internal KvmMemorySlot MovedTo(ulong baseGfn, MemoryRegionFlags flags) =>
        new(Id, baseGfn, Npages, flags, UserspacePage) { DirtyBitmap = DirtyBitmap, Lineage = Lineage };

    private KvmMemorySlot Copy(MemoryRegionFlags flags, bool invalid) =>
        new(Id, BaseGfn, Npages, flags, UserspacePage)
        {
            Lineage = Lineage,
            DirtyBitmap = DirtyBitmap,
            Rmaps = Rmaps,
            _writeTrack = _writeTrack,
            _disallowLpage = _disallowLpage,
            Invalid = invalid,
        };

    /// <summary>kvm_gfn_is_write_tracked().</summary>
    public bool IsWriteTracked(ulong gfn) => _writeTrack.Count > 0 && _writeTrack.ContainsKey(gfn);

    /// <summary>Whether a GFN in [gfn, gfn + pages) is write-tracked (for the checker: the tracked set is small).</summary>
    internal bool AnyWriteTracked(ulong gfn, ulong pages)
    {
        foreach (var tracked in _writeTrack.Keys)
        {
            if (tracked >= gfn && tracked < gfn + pages)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// lpage_info_slot(gfn, slot, level)->disallow_lpage != 0, as kvm_alloc_memslot_metadata() sets
    /// it up and page tracking adjusts it: the huge page at <paramref name="level"/> holding
    /// <paramref name="gfn"/> reaches past the slot (the head and tail are disallowed), the slot's
    /// guest and user addresses are not equally aligned at that level (every huge page is
    /// disallowed: "(slot->base_gfn ^ ugfn) &amp; (KVM_PAGES_PER_HPAGE(level) - 1)"), or a GFN in it
    /// is write-tracked (kvm_mmu_gfn_disallow_lpage()).
    /// </summary>
    public bool LpageDisallowed(ulong gfn, int level)
    {
        var pages = TdpWalker.PagesPerHpage(level);
        var start = TdpWalker.GfnRoundForLevel(gfn, level);
        if (start < BaseGfn || start + pages > EndGfn || ((BaseGfn ^ UserspacePage) & (pages - 1)) != 0)
        {
            return true;
        }

        return _disallowLpage.Count > 0 && _disallowLpage.ContainsKey((level, start));
    }

    /// <summary>update_gfn_write_track() and update_gfn_disallow_lpage_count() for every huge level: +1 or -1.</summary>
    internal void UpdateWriteTrack(ulong gfn, int delta)
    {
        RefCounts.Add(_writeTrack, gfn, delta, "write-track");
        UpdateDisallowLpage(gfn, delta);
    }

    /// <summary>update_gfn_disallow_lpage_count() for every huge level: a shadowed 4K guest table forbids huge pages over it.</summary>
    internal void UpdateDisallowLpage(ulong gfn, int delta)
    {
        for (var level = 2; level <= TdpWalker.MaxHugePageLevel; level++)
        {
            RefCounts.Add(_disallowLpage, (level, TdpWalker.GfnRoundForLevel(gfn, level)), delta, "disallow_lpage");
        }
    }

    public override string ToString() => $"memslot {Id} [0x{BaseGfn:x}, 0x{EndGfn:x})";
}
