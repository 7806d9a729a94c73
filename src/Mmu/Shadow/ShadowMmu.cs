using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

/// <summary>
/// The shadow MMU of one VM (mmu.c's rmap paths and paging_tmpl.h, with the parts of struct
/// kvm_arch they keep): shadow pages hashed by (gfn, role), the reverse maps from a guest frame
/// to the leaf SPTEs that map it, and the operations on them, all over the Legacy SPTE format's
/// masks. The fault path is in ShadowMmu.Fault.cs, unsync and write protection in
/// ShadowMmu.Unsync.cs, FNAME(sync_spte) and its callers in ShadowMmu.Sync.cs, the vCPU side
/// (the hardware walk, #PF injection, INVLPG, CR3 and CR writes) in ShadowMmu.Vcpu.cs, and what
/// the common code calls (the MMU notifier, dirty logging, memslot zaps) in ShadowMmu.Hooks.cs.
/// Write tracking is the memslot's (page_track.c), shared with every MMU. Each step is logged
/// in the VM's log, indented under the access or ioctl it belongs to.
/// </summary>
public sealed partial class ShadowMmu : X86Mmu
{
    /// <summary>Shadow pages live in host frames from here up, clear of guest memory's pages.</summary>
    private const ulong FirstSpPfn = 0x10_0000_0000;

    // kvm->arch.mmu_page_hash, one list per gfn rather than per hash bucket.
    private readonly Dictionary<ulong, List<ShadowPage>> _hash = [];
    private readonly Dictionary<ulong, ShadowPage> _byPfn = [];

    // slot->arch.rmap[level - 1][index]: the leaf SPTEs mapping each frame, per level.

    private ulong _nextPfn = FirstSpPfn;

    public ShadowMmu(Kvm.Kvm kvm, SpteMasks masks)
        : base(kvm, masks)
    {
        Sync = kvm.Rules.SyncSpte.Sync ?? throw new ArgumentException($"model '{kvm.Rules.Model}' gives SyncSpte no decision table", nameof(kvm));
    }

    public override MmuKind Kind => MmuKind.Shadow;

    /// <summary>Shadow paging always has A/D bits (the guest's own A/D are emulated through them).</summary>
    public override bool AdEnabled => true;

    /// <summary>FNAME(sync_spte)'s decision table, from the model's SyncSpte policy.</summary>
    public SyncSptePolicy Sync { get; }

    /// <summary>kvm->arch.active_mmu_pages: the valid shadow pages, oldest first.</summary>
    public List<ShadowPage> ActivePages { get; } = [];

    /// <summary>kvm->arch.indirect_shadow_pages: how many pages shadow a guest table.</summary>
    public int IndirectShadowPages { get; private set; }

    /// <summary>The valid pages shadowing <paramref name="gfn"/> (for_each_gfn_valid_sp_with_gptes).</summary>
    public IEnumerable<ShadowPage> PagesWithGptes(ulong gfn) =>
        _hash.TryGetValue(gfn, out var list) ? list.Where(sp => !sp.Invalid && sp.HasGptes).ToList() : [];

    /// <summary>spte_to_child_sp(): the page a non-leaf SPTE points at.</summary>
    public ShadowPage ChildOf(ulong spte) =>
        _byPfn.TryGetValue(SpteMasks.ToPfn(spte), out var sp) ? sp : throw new InvalidOperationException($"SPTE 0x{spte:x16} points at no shadow page");

    /// <summary>kvm_gfn_is_write_tracked(): the memslot's count.</summary>
    public bool IsWriteTracked(ulong gfn) => Kvm.FindSlot(gfn)?.IsWriteTracked(gfn) ?? false;

    /// <summary>The leaf SPTEs that map <paramref name="gfn"/> at 4K (its rmap).</summary>
    public IReadOnlyList<(ShadowPage Page, int Index)> Rmap(ulong gfn, int level = GuestWalker.PteLevel) => RmapHead(gfn, level);

    /// <summary>gfn_to_rmap(): the rmap head of <paramref name="gfn"/> at <paramref name="level"/> in its memslot (empty where no slot holds it).</summary>
    internal List<(ShadowPage Page, int Index)> RmapHead(ulong gfn, int level = GuestWalker.PteLevel) =>
        Kvm.FindSlot(gfn) is { } slot ? Rmaps(slot).Get(gfn, level) : NoRmap;

    private static readonly List<(ShadowPage Page, int Index)> NoRmap = [];

    private static SlotRmaps Rmaps(KvmMemorySlot slot) => slot.Rmaps ??= new SlotRmaps(slot);


    /// <summary>
    /// kvm_mmu_get_shadow_page(): the page for (gfn, role), found (kvm_mmu_find_shadow_page) or
    /// made (kvm_mmu_alloc_shadow_page).
    /// </summary>
    internal ShadowPage GetShadowPage(KvmVcpu vcpu, ulong gfn, KvmMmuPageRole role)
    {
        if (FindShadowPage(vcpu, gfn, role) is { } found)
        {
            return found;
        }

        return AllocShadowPage(gfn, role);
    }

    /// <summary>
    /// kvm_mmu_find_shadow_page(): an unsync page of the same role is synced (kvm_sync_page) but
    /// stays unsync ("the overhead of write protection is not incurred until the guest
    /// invalidates the TLB mapping"); an unsync page of another role is zapped when the guest
    /// makes the frame an upper-level table. Returns null when there is none to reuse.
    /// </summary>
    private ShadowPage? FindShadowPage(KvmVcpu vcpu, ulong gfn, KvmMmuPageRole role)
    {
        var invalid = new List<ShadowPage>();
        ShadowPage? result = null;
        foreach (var sp in PagesWithGptes(gfn).Concat(DirectPages(gfn)))
        {
            if (sp.Role != role)
            {
                if (role.Level > GuestWalker.PteLevel && sp.Unsync)
                {
                    Kvm.Log.Add($"  kvm_mmu_find_shadow_page: {sp.Name} zapped, gfn 0x{gfn:x} becomes an upper-level table");
                    PrepareZapPage(sp, invalid);
                }

                continue;
            }

            if (!sp.Role.Direct && sp.Unsync)
            {
                var ret = KvmSyncPage(vcpu, sp, invalid);
                if (ret < 0)
                {
                    break;
                }

                if (ret > 0)
                {
                    FlushRemoteTlbs("kvm_mmu_find_shadow_page: kvm_sync_page");
                }
            }

            sp.WriteFloodingCount = 0;
            result = sp;
            break;
        }

        CommitZapPage(invalid);
        return result;
    }

    private IEnumerable<ShadowPage> DirectPages(ulong gfn) =>
        _hash.TryGetValue(gfn, out var list) ? list.Where(sp => !sp.Invalid && sp.Role.Direct).ToList() : [];

    /// <summary>kvm_mmu_alloc_shadow_page(): a new page, hashed, and account_shadowed() when it shadows a guest table.</summary>
    private ShadowPage AllocShadowPage(ulong gfn, KvmMmuPageRole role)
    {
        var sp = new ShadowPage(gfn, role, _nextPfn++, Masks.NonPresentValue);
        if (!_hash.TryGetValue(gfn, out var list))
        {
            _hash[gfn] = list = [];
        }

        list.Add(sp);
        _byPfn[sp.Pfn] = sp;
        ActivePages.Add(sp);
        Kvm.Log.Add($"  new {sp.Name}");
        if (sp.HasGptes)
        {
            AccountShadowed(sp);
        }

        return sp;
    }

    /// <summary>
    /// account_shadowed(): "the non-leaf shadow pages are keeping readonly", so an upper-level
    /// table is write-tracked (__kvm_write_track_add_gfn); a 4K table only forbids huge pages over
    /// it and has the SPTEs that map it write-protected, since it may become unsync instead.
    /// </summary>
    private void AccountShadowed(ShadowPage sp)
    {
        IndirectShadowPages++;
        if (sp.Role.Level > GuestWalker.PteLevel)
        {
            WriteTrackAddGfn(sp.Gfn);
            return;
        }

        Kvm.FindSlot(sp.Gfn)?.UpdateDisallowLpage(sp.Gfn, +1);
        if (WriteProtectGfn(sp.Gfn))
        {
            FlushRemoteTlbs($"account_shadowed: gfn 0x{sp.Gfn:x} write-protected");
        }
    }

    /// <summary>unaccount_shadowed().</summary>
    private void UnaccountShadowed(ShadowPage sp)
    {
        IndirectShadowPages--;
        var slot = Kvm.FindSlot(sp.Gfn);
        if (sp.Role.Level > GuestWalker.PteLevel)
        {
            slot?.UpdateWriteTrack(sp.Gfn, -1);
            Kvm.Log.Add($"  gfn 0x{sp.Gfn:x} no longer write-tracked (__kvm_write_track_remove_gfn)");
            return;
        }

        slot?.UpdateDisallowLpage(sp.Gfn, -1);
    }

    /// <summary>
    /// __kvm_write_track_add_gfn() (page_track.c): count the gfn as tracked, forbid huge pages over
    /// it, and write-protect the SPTEs that map it (kvm_mmu_slot_gfn_write_protect), flushing if
    /// any changed. From then on a write to it is RET_PF_WRITE_PROTECTED.
    /// </summary>
    private void WriteTrackAddGfn(ulong gfn)
    {
        Kvm.FindSlot(gfn)?.UpdateWriteTrack(gfn, +1);
        Kvm.Log.Add($"  gfn 0x{gfn:x} write-tracked (__kvm_write_track_add_gfn)");
        if (WriteProtectGfn(gfn))
        {
            FlushRemoteTlbs($"__kvm_write_track_add_gfn 0x{gfn:x}");
        }
    }

    /// <summary>
    /// kvm_mmu_get_child_sp(): the page for the table below a non-leaf SPTE, or null
    /// (ERR_PTR(-EEXIST)) when the SPTE already points at one.
    /// </summary>
    internal ShadowPage? GetChildSp(KvmVcpu vcpu, ShadowPage parent, int index, ulong gfn, bool direct, uint access)
    {
        var spte = parent.Spt[index];
        if (SpteMasks.IsShadowPresent(spte) && !SpteMasks.IsLast(spte, parent.Role.Level))
        {
            return null;
        }

        return GetShadowPage(vcpu, gfn, parent.Role.Child(direct, access));
    }

    /// <summary>
    /// __link_shadow_page(): point the parent's SPTE at <paramref name="child"/>
    /// (make_nonleaf_spte), record the parent (mmu_page_add_parent_pte), and if the child is
    /// unsync mark the path to it (mark_unsync), so that a sync from the root finds it.
    /// </summary>
    internal void LinkShadowPage(ShadowPage parent, int index, ShadowPage child)
    {
        if (SpteMasks.IsShadowPresent(parent.Spt[index]))
        {
            // drop_large_spte(): a huge leaf gives way to the table.
            DropSpte(parent, index);
            FlushRemoteTlbs("drop_large_spte");
        }

        parent.Spt[index] = Masks.MakeNonLeaf(child.Pfn, adDisabled: false);
        child.ParentPtes.Add((parent, index));
        if (child.Unsync || child.UnsyncChildren > 0)
        {
            MarkUnsync(parent, index);
        }
    }

    /// <summary>rmap_add(): record the translation (gfn, access) and the SPTE in the frame's rmap.</summary>
    private void RmapAdd(ShadowPage sp, int index, ulong gfn, uint access)
    {
        sp.SetTranslation(index, gfn, access);
        var slot = Kvm.FindSlot(gfn);
        KvmWarn.On(slot is null, $"rmap_add: {sp.Name}[{index}] maps gfn 0x{gfn:x}, which no memslot holds");
        Rmaps(slot!).Add(gfn, sp.Role.Level, sp, index);
    }

    private void RmapRemove(ShadowPage sp, int index)
    {
        var gfn = sp.GetGfn(index);
        KvmWarn.On(Kvm.FindSlot(gfn) is not { } slot || !Rmaps(slot).Remove(gfn, sp.Role.Level, sp, index), $"{sp.Name}[{index}] is not in the rmap of gfn 0x{gfn:x}");
    }

    /// <summary>drop_spte(): clear a leaf SPTE and take it out of its rmap.</summary>
    internal void DropSpte(ShadowPage sp, int index)
    {
        var old = sp.Spt[index];
        sp.Spt[index] = Masks.NonPresentValue;
        if (SpteMasks.IsShadowPresent(old))
        {
            RmapRemove(sp, index);
        }
    }

    /// <summary>
    /// mmu_spte_update(): write a leaf SPTE; true when the change needs a TLB flush
    /// (leaf_spte_change_needs_tlb_flush: MMU-writable cleared).
    /// </summary>
    internal bool MmuSpteUpdate(ShadowPage sp, int index, ulong spte)
    {
        var old = sp.Spt[index];
        sp.Spt[index] = spte;
        if (SpteMasks.IsShadowPresent(spte))
        {
            Masks.CheckWritableInvariants(spte, sp.GetGfn(index), "mmu_spte_update");
        }

        return SpteMasks.IsShadowPresent(old) && Masks.LeafChangeNeedsFlush(old, spte);
    }

    /// <summary>
    /// mmu_page_zap_pte(): drop a leaf, or unlink a child page (drop_parent_pte); true if the
    /// SPTE was present. Without TDP a child left with no parent stays hashed for reuse.
    /// </summary>
    private bool MmuPageZapPte(ShadowPage sp, int index)
    {
        var spte = sp.Spt[index];
        if (!SpteMasks.IsShadowPresent(spte))
        {
            return false;
        }

        if (SpteMasks.IsLast(spte, sp.Role.Level))
        {
            DropSpte(sp, index);
        }
        else
        {
            DropParentPte(ChildOf(spte), sp, index);
        }

        return true;
    }

    /// <summary>drop_parent_pte(): the parent's SPTE no longer points at <paramref name="child"/>.</summary>
    private void DropParentPte(ShadowPage child, ShadowPage parent, int index)
    {
        child.ParentPtes.Remove((parent, index));
        parent.Spt[index] = Masks.NonPresentValue;
    }

    /// <summary>
    /// __kvm_mmu_prepare_zap_page(): unlink the page's children and parents, stop shadowing its
    /// gfn (unaccount_shadowed), and mark it invalid. A page some vCPU still uses as its root is
    /// freed when the vCPU lets it go (it reloads a root on its next entry:
    /// KVM_REQ_MMU_FREE_OBSOLETE_ROOTS); the others go on <paramref name="invalidList"/>.
    /// </summary>
    private void PrepareZapPage(ShadowPage sp, List<ShadowPage> invalidList)
    {
        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            MmuPageZapPte(sp, i);
        }

        foreach (var (parent, index) in sp.ParentPtes.ToList())
        {
            DropParentPte(sp, parent, index);
        }

        if (!sp.Invalid && sp.HasGptes)
        {
            UnaccountShadowed(sp);
        }

        if (sp.Unsync)
        {
            KvmUnlinkUnsyncPage(sp);
        }

        sp.Invalid = true;
        _hash[sp.Gfn].Remove(sp);
        ActivePages.Remove(sp);
        if (sp.RootCount == 0)
        {
            invalidList.Add(sp);
        }
        else
        {
            foreach (var vcpu in Kvm.Vcpus.Where(v => v.ShadowMmu?.Root == sp))
            {
                vcpu.ShadowMmu!.RootObsolete = true;
            }
        }
    }

    /// <summary>kvm_mmu_commit_zap_page(): flush every vCPU's TLB, then free the pages.</summary>
    private void CommitZapPage(List<ShadowPage> invalidList)
    {
        if (invalidList.Count == 0)
        {
            return;
        }

        FlushRemoteTlbs("kvm_mmu_commit_zap_page");
        foreach (var sp in invalidList)
        {
            _byPfn.Remove(sp.Pfn);
        }

        invalidList.Clear();
    }

    /// <summary>
    /// mmu_alloc_shadow_roots() for a 4- or 5-level guest: the root is the shadow page of the
    /// table CR3 points to (mmu_alloc_root), held by root_count.
    /// </summary>
    internal ShadowPage AllocRoot(KvmVcpu vcpu)
    {
        var rootGfn = vcpu.Cpu.Cr3 >> GuestWalker.PageShift;
        var root = GetShadowPage(vcpu, rootGfn, KvmMmuPageRole.ForRoot(vcpu.Cpu));
        root.RootCount++;
        return root;
    }

    /// <summary>mmu_free_root_page(): drop the vCPU's hold on its root; an invalid root with no holder is freed.</summary>
    internal void FreeRoot(ShadowPage root)
    {
        root.RootCount--;
        if (root.RootCount == 0 && root.Invalid)
        {
            CommitZapPage([root]);
        }
    }
}

public sealed partial class ShadowMmu
{
    /// <summary>Every rmap head of every memslot, for the invariant checker.</summary>
    internal IEnumerable<(int Level, ulong Gfn, List<(ShadowPage Page, int Index)> Sptes)> AllRmaps() =>
        Kvm.Memslots.Where(s => s.Rmaps is not null).SelectMany(s => s.Rmaps!.All());
}
