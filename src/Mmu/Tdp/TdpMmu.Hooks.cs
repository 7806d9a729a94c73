using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdx;

namespace SpecKit.Mmu.Tdp;

// The TDP MMU's side of the hooks mmu.c dispatches to it (the kvm_tdp_mmu_* calls).
public sealed partial class TdpMmu
{
    /// <summary>
    /// kvm_tdp_mmu_unmap_gfn_range(): the model's design picks which roots the caller's range
    /// zaps (spec: UnmapGfnRange RootFilter), and the leaves of [start, end) are zapped in each
    /// (tdp_mmu_zap_leafs), the pending flush carried from one root to the next.
    /// </summary>
    public override bool UnmapGfnRange(ulong start, ulong end, UnmapCaller caller, MemoryAttribute? attribute, bool flush)
    {
        var design = UnmapDesign.For(Rules);
        var range = design.CallerRange(Kvm.IsMirrored, caller, attribute).Range;
        if (range is null)
        {
            Kvm.Log.Add($"  {UnmapCallers.Describe(caller)}: kvm_tdp_mmu_unmap_gfn_range() not reached in this design");
            return flush;
        }

        var decision = design.UnmapRootTypes(Kvm.IsMirrored, range);
        var walked = new List<string>();
        foreach (var root in Roots.ToList())
        {
            if (!decision.ZapsRoot(root.Role))
            {
                continue;
            }

            var before = On(root, () => PresentLeaves(start, end));
            flush = On(root, () => ZapLeafs(start, end, flush));
            walked.Add(before.Count == 0 ? $"{root} (nothing mapped)" : $"{root} (zapped {string.Join(", ", before.Select(g => $"0x{g:x}"))})");
        }

        // Which roots were walked is news only where there is more than one.
        if (Kvm.IsMirrored || Roots.Count > 1)
        {
            Kvm.Log.Add($"  kvm_tdp_mmu_unmap_gfn_range ({TdpMmuRoots.KernelName(decision.Zaps)}): walked {(walked.Count == 0 ? "no root" : string.Join(", ", walked))}");
        }

        return flush;
    }

    /// <summary>
    /// kvm_tdp_mmu_age_gfn_range() / kvm_tdp_mmu_test_age_gfn(): the roots come from the AgeGfnRange
    /// policy: the HVA notifier's KVM_FILTER_SHARED, valid roots only, so an invalid root is never aged.
    /// </summary>
    public override bool AgeGfnRange(ulong start, ulong end, bool testOnly)
    {
        var types = TdpMmuRoots.AgeRootTypes(Rules, Kvm.IsMirrored, KvmGfnRangeFilter.Shared);
        var young = false;
        foreach (var root in Roots.Where(r => TdpMmuRoots.RootMatch(r.Role, types)).ToList())
        {
            young |= On(root, () => AgeRoot(start, end, testOnly));
            if (young && testOnly)
            {
                break;
            }
        }

        return young;
    }

    /// <summary>kvm_tdp_mmu_try_split_huge_pages(): split to 4K on every valid root.</summary>
    protected override int TrySplitHugePages(KvmMemorySlot slot, ulong start, ulong end) =>
        ValidRoots().Sum(root => On(root, () => SplitHugePages(start, end, 1)));

    /// <summary>kvm_tdp_mmu_wrprot_slot(): wrprot_gfn_range() over the slot on every valid root.</summary>
    protected override void SlotRemoveWriteAccess(KvmMemorySlot slot, int minLevel)
    {
        foreach (var root in ValidRoots())
        {
            On(root, () => WrprotGfnRange(slot.BaseGfn, slot.EndGfn, minLevel));
        }
    }

    /// <summary>kvm_tdp_mmu_recover_huge_pages(): over the slot, at the levels kvm_mmu_max_mapping_level() allows now.</summary>
    protected override (int Recovered, bool FlushOwed) RecoverHugePages(KvmMemorySlot slot)
    {
        var (recovered, flush) = (0, false);
        foreach (var root in ValidRoots())
        {
            var (count, owed) = On(root, () => RecoverHugePages(slot.BaseGfn, slot.EndGfn, gfn => HugePageAdjust(slot, gfn)));
            (recovered, flush) = (recovered + count, flush || owed);
        }

        return (recovered, flush);
    }

    /// <summary>kvm_tdp_mmu_clear_dirty_pt_masked(..., wrprot = true) on every valid root.</summary>
    protected override void WriteProtectPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask) => ClearDirtyPtMaskedRoots(gfn, mask, wrprot: true);

    /// <summary>kvm_tdp_mmu_clear_dirty_pt_masked(..., wrprot = false) on every valid root: PML's re-arm clears D.</summary>
    protected override void ClearDirtyPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask) => ClearDirtyPtMaskedRoots(gfn, mask, wrprot: false);

    /// <summary>kvm_tdp_mmu_clear_dirty_slot(): clear_dirty_gfn_range() over the slot in every valid root.</summary>
    protected override void SlotLeafClearDirty(KvmMemorySlot slot)
    {
        foreach (var root in ValidRoots())
        {
            On(root, () => ClearDirtyGfnRange(slot.BaseGfn, slot.EndGfn));
        }
    }

    private void ClearDirtyPtMaskedRoots(ulong gfn, ulong mask, bool wrprot)
    {
        // Once per bitmap word of a GET or CLEAR: the roots are walked without allocating, and
        // the usual single valid root, already the walk's, is not switched to at all.
        if (Roots is [{ Invalid: false } only] && only == _walkRoot)
        {
            ClearDirtyPtMasked(gfn, mask, wrprot);
            return;
        }

        var outer = _walkRoot;
        try
        {
            foreach (var root in Roots)
            {
                if (!root.Invalid)
                {
                    _walkRoot = root;
                    ClearDirtyPtMasked(gfn, mask, wrprot);
                }
            }
        }
        finally
        {
            _walkRoot = outer;
        }
    }

    /// <summary>kvm_mmu_zap_memslot(): kvm_unmap_gfn_range() over the slot with both aliases (KVM_FILTER_PRIVATE | KVM_FILTER_SHARED).</summary>
    public override bool FlushShadowMemslot(KvmMemorySlot slot) => UnmapGfnRange(slot.BaseGfn, slot.EndGfn, UnmapCaller.MemslotZap, null, false);

    /// <summary>
    /// kvm_mmu_zap_all_fast(): every valid root is invalidated (kvm_tdp_mmu_invalidate_roots) and
    /// vCPUs reload a new one (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS), then the invalidated roots are
    /// zapped and freed before returning (kvm_tdp_mmu_zap_invalidated_roots): "all SPTEs must be
    /// dropped before returning to the caller".
    /// </summary>
    public override void ZapAllFast()
    {
        InvalidateRoots();
        ZapInvalidatedRoots();
    }

    /// <summary>kvm_tdp_mmu_zap_all(): every root zapped to the top.</summary>
    public override bool ZapAll()
    {
        var flush = false;
        foreach (var root in Roots.ToList())
        {
            flush |= On(root, ZapRoot);
        }

        return flush;
    }

    /// <summary>kvm_tdp_mmu_write_protect_gfn() on every valid root.</summary>
    public override bool SlotGfnWriteProtect(KvmMemorySlot slot, ulong gfn, int minLevel) =>
        ValidRoots().Aggregate(false, (flush, root) => On(root, () => WriteProtectGfn(gfn, minLevel)) | flush);

    /// <summary>kvm_mmu_track_write(): the TDP MMU has no shadowed guest tables to update.</summary>
    public override void TrackWrite(KvmVcpu vcpu, ulong gpa)
    {
    }

    private List<TdpRoot> ValidRoots() => Roots.Where(r => !r.Invalid).ToList();

    /// <summary>
    /// kvm_tdp_mmu_invalidate_roots(KVM_VALID_ROOTS) as kvm_mmu_zap_all_fast() calls it: the
    /// valid direct root becomes invalid and stays, SPTEs and all, until
    /// <see cref="ZapInvalidatedRoots"/> (a TDX VM's mirror root is invalidated only at teardown);
    /// walks start from a new valid root, and every vCPU flushes as it loads it
    /// (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS).
    /// </summary>
    public void InvalidateRoots()
    {
        InvalidateDirectRoot();
        Kvm.Log.Add("kvm_tdp_mmu_invalidate_roots: the direct root is invalid; vCPUs use a new one");
        FlushRemoteTlbs("KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: vCPUs load the new root");
        Kvm.AfterOperation("kvm_tdp_mmu_invalidate_roots");
    }

    /// <summary>kvm_tdp_mmu_zap_invalidated_roots(): zap each invalid root to the top and free it.</summary>
    public void ZapInvalidatedRoots()
    {
        foreach (var root in Roots.Where(r => r.Invalid).ToList())
        {
            On(root, ZapRoot);
            Roots.Remove(root);
            Tables.Free(root.TablePfn);
            Kvm.Log.Add($"kvm_tdp_mmu_zap_invalidated_roots: {root} zapped and freed");
        }

        Kvm.AfterOperation("kvm_tdp_mmu_zap_invalidated_roots");
    }

    /// <summary>
    /// tdp_mmu_get_root_for_fault(): in a TDX VM, a GPA with the shared bit uses the direct root,
    /// one without it the mirror root; the memslot and attributes are looked up without the bit.
    /// </summary>
    private (TdpRoot Root, ulong Gfn) RootForFault(ulong gfn)
    {
        if (!Kvm.IsMirrored)
        {
            return (DirectRoot, gfn);
        }

        return (gfn & Kvm.GfnDirectBits) != 0 ? (DirectRoot, gfn & ~Kvm.GfnDirectBits) : (MirrorRoot!, gfn);
    }
}
