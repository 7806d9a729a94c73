namespace SpecKit.Mmu.Shadow;

/// <summary>
/// struct kvm_mmu_page: one shadow page table of 512 SPTEs, shadowing the guest table at
/// <see cref="Gfn"/> as seen through <see cref="Role"/> (or, when direct, mapping a guest huge
/// page with small pages). mmu.rst: "A shadow page contains 512 sptes, which can be either leaf
/// or nonleaf sptes."
/// </summary>
public sealed class ShadowPage
{
    private readonly ulong[]? _shadowedTranslation;

    internal ShadowPage(ulong gfn, KvmMmuPageRole role, ulong pfn, ulong nonPresent)
    {
        Gfn = gfn;
        Role = role;
        Pfn = pfn;
        Array.Fill(Spt, nonPresent);

        // kvm_mmu_alloc_shadow_page(): "if (!role.direct && role.level <= KVM_MAX_HUGEPAGE_LEVEL)
        // sp->shadowed_translation = ..."; a page above that holds only non-leaf SPTEs.
        if (!role.Direct && role.Level <= GuestWalker.MaxHugePageLevel)
        {
            _shadowedTranslation = new ulong[GuestWalker.EntriesPerTable];
        }
    }

    /// <summary>sp->gfn: the guest table shadowed, or the first frame of the guest huge page a direct page maps.</summary>
    public ulong Gfn { get; }

    public KvmMmuPageRole Role { get; }

    /// <summary>The host frame that holds <see cref="Spt"/>: what a parent's non-leaf SPTE points at.</summary>
    public ulong Pfn { get; }

    /// <summary>sp->spt: the SPTEs, SHADOW_NONPRESENT_VALUE when not present.</summary>
    public ulong[] Spt { get; } = new ulong[GuestWalker.EntriesPerTable];

    /// <summary>
    /// sp->unsync: the guest may have changed this page's gPTEs without KVM knowing, as a TLB may
    /// be stale until the guest flushes it (mmu.rst). Only 4K pages become unsync.
    /// </summary>
    public bool Unsync { get; internal set; }

    /// <summary>sp->unsync_child_bitmap: the SPTEs whose child page is unsync or has unsync children.</summary>
    internal bool[] UnsyncChildBitmap { get; } = new bool[GuestWalker.EntriesPerTable];

    /// <summary>sp->unsync_children: how many bits <see cref="UnsyncChildBitmap"/> has set.</summary>
    public int UnsyncChildren { get; internal set; }

    /// <summary>sp->parent_ptes: the non-leaf SPTEs (page, index) that point at this page.</summary>
    public List<(ShadowPage Page, int Index)> ParentPtes { get; } = [];

    /// <summary>sp->root_count: vCPUs using this page as their root; a zapped root lives on, invalid, until it drops to 0.</summary>
    public int RootCount { get; internal set; }

    /// <summary>sp->role.invalid: zapped; no longer found by its gfn and role.</summary>
    public bool Invalid { get; internal set; }

    /// <summary>sp->write_flooding_count: emulated writes since a vCPU last walked through this page.</summary>
    public int WriteFloodingCount { get; internal set; }

    /// <summary>sp_has_gptes(): an indirect page shadows a guest table (and write-protects it).</summary>
    public bool HasGptes => !Role.Direct;

    /// <summary>
    /// kvm_mmu_page_get_gfn(): the frame SPTE <paramref name="index"/> maps, from
    /// shadowed_translation, or for a direct page from its position.
    /// </summary>
    public ulong GetGfn(int index) =>
        _shadowedTranslation is { } translation
            ? translation[index] >> GuestWalker.PageShift
            : Gfn + ((ulong)index << ((Role.Level - 1) * GuestWalker.LevelBits));

    /// <summary>kvm_mmu_page_get_access(): the rights SPTE <paramref name="index"/> was made with (ACC_* uwx).</summary>
    public uint GetAccess(int index) =>
        _shadowedTranslation is { } translation ? (uint)(translation[index] & Acc.ACC_ALL) : Role.Access;

    /// <summary>kvm_mmu_page_set_translation(): shadowed_translation[i] = gfn &lt;&lt; PAGE_SHIFT | access.</summary>
    internal void SetTranslation(int index, ulong gfn, uint access)
    {
        if (_shadowedTranslation is { } translation)
        {
            translation[index] = (gfn << GuestWalker.PageShift) | access;
        }
    }

    /// <summary>kvm_mmu_page_set_access(): keeps the gfn, changes the access.</summary>
    internal void SetAccess(int index, uint access) => SetTranslation(index, GetGfn(index), access);

    /// <summary>
    /// The page in log lines: <c>sp 0x101 L1 uwx</c>, its gfn, level and access, and the role bits
    /// that are not the usual ones (direct, !cr0_wp, smep_andnot_wp, smap_andnot_wp).
    /// </summary>
    public string Name =>
        $"sp 0x{Gfn:x} L{Role.Level} {KvmMmuPageRole.DescribeAccess(Role.Access)}{(Role.Direct ? " direct" : "")}{(Role.Cr0Wp ? "" : " !cr0_wp")}{(Role.SmepAndNotWp ? " smep_andnot_wp" : "")}{(Role.SmapAndNotWp ? " smap_andnot_wp" : "")}";

    /// <summary><c>sp gfn 0x101 level=1 access=uwx cr0_wp efer_nx unsync</c>: the gfn, the whole role, and the sync state.</summary>
    public override string ToString() =>
        $"sp gfn 0x{Gfn:x} {Role}{(Unsync ? " unsync" : "")}{(UnsyncChildren > 0 ? $" unsync_children={UnsyncChildren}" : "")}{(Invalid ? " invalid" : "")}";
}
