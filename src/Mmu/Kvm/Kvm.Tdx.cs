using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.Tdx;

namespace SpecKit.Mmu.Kvm;

/// <summary>KVM_CREATE_VM's type: the default VM, or a TDX VM with private memory and mirror roots.</summary>
public enum KvmVmType
{
    /// <summary>KVM_X86_DEFAULT_VM.</summary>
    Default,

    /// <summary>KVM_X86_TDX_VM: a shared GFN bit, mirror (private) and direct (shared) roots, guest_memfd.</summary>
    Tdx,
}

public sealed partial class Kvm
{
    /// <summary>
    /// The TDX shared bit as a GFN bit (kvm->arch.gfn_direct_bits): GPA bit 47 with 4-level EPT
    /// (TDX_SHARED_BIT_PWL_4; bit 51 with 5-level), so GFN bit 35. Zero for other VMs.
    /// </summary>
    public ulong GfnDirectBits => VmType == KvmVmType.Tdx ? 1UL << (47 - TdpWalker.PageShift) : 0;

    public KvmVmType VmType { get; }

    /// <summary>kvm_has_mirrored_tdp(): the VM has mirror roots.</summary>
    public bool IsMirrored => VmType == KvmVmType.Tdx;

    // KVM_SET_MEMORY_ATTRIBUTES: the GFNs whose attribute is KVM_MEMORY_ATTRIBUTE_PRIVATE.
    private readonly HashSet<ulong> _private = [];

    // guest_memfd: the private pages allocated for GFNs, until a hole is punched over them.
    private readonly Dictionary<ulong, ulong> _gmem = [];
    private ulong _nextGmemPfn = 0x800000;

    /// <summary>kvm_mem_is_private().</summary>
    public bool IsPrivate(ulong gfn) => _private.Contains(gfn);

    /// <summary>
    /// KVM_SET_MEMORY_ATTRIBUTES (kvm_vm_set_mem_attributes): a no-op if [start, end) already has
    /// the attribute; otherwise begin an invalidation, let the arch pre hook unmap the old
    /// attribute's alias (kvm_arch_pre_set_memory_attributes, under the model's design of
    /// kvm_tdp_mmu_unmap_gfn_range), store the attribute, and end the invalidation. Huge pages
    /// over ranges that are now mixed are disallowed from then on (the post hook's
    /// KVM_LPAGE_MIXED_FLAG, computed here when a fault asks).
    /// </summary>
    public void SetMemoryAttributes(ulong start, ulong end, bool toPrivate)
    {
        var what = $"KVM_SET_MEMORY_ATTRIBUTES [0x{start:x}, 0x{end:x}) {(toPrivate ? "private" : "shared")}";
        if (Enumerable.Range(0, (int)(end - start)).All(i => IsPrivate(start + (ulong)i) == toPrivate))
        {
            Log.Add($"{what}: the range already has the attribute, nothing to do");
            return;
        }

        InvalidateBegin(start, end, what);
        var attribute = toPrivate ? MemoryAttribute.Private : MemoryAttribute.Shared;
        if (UnmapGfnRange(start, end, UnmapCaller.SetMemoryAttributes, attribute))
        {
            FlushRemoteTlbs("kvm_arch_pre_set_memory_attributes");
        }

        for (var gfn = start; gfn < end; gfn++)
        {
            if (toPrivate)
            {
                _private.Add(gfn);
            }
            else
            {
                _private.Remove(gfn);
            }
        }

        InvalidateEnd(start, end, "kvm_mmu_invalidate_end");
        AfterOperation("KVM_SET_MEMORY_ATTRIBUTES");
    }

    /// <summary>
    /// fallocate(PUNCH_HOLE) on the guest_memfd: kvm_gmem_invalidate_begin() unmaps the private
    /// pages (KVM_FILTER_PRIVATE in the merged kernel), then the pages are freed.
    /// </summary>
    public void PunchHole(ulong start, ulong end)
    {
        var what = $"guest_memfd punch hole [0x{start:x}, 0x{end:x})";
        InvalidateBegin(start, end, what);
        if (UnmapGfnRange(start, end, UnmapCaller.GuestMemfdInvalidate, null))
        {
            FlushRemoteTlbs("kvm_gmem_invalidate_begin");
        }

        for (var gfn = start; gfn < end; gfn++)
        {
            _gmem.Remove(gfn);
        }

        InvalidateEnd(start, end, "kvm_mmu_invalidate_end");
        AfterOperation("fallocate(PUNCH_HOLE)");
    }

    /// <summary>
    /// kvm_unmap_gfn_range() -> kvm_tdp_mmu_unmap_gfn_range(): the model's design picks which roots
    /// a caller's range zaps (spec: UnmapGfnRange RootFilter), and the leaves of [start, end) are
    /// zapped in each (tdp_mmu_zap_leafs). Returns whether a flush is owed.
    /// </summary>
    internal bool UnmapGfnRange(ulong start, ulong end, UnmapCaller caller, MemoryAttribute? attribute)
    {
        var design = UnmapDesign.For(Rules);
        var range = design.CallerRange(IsMirrored, caller, attribute).Range;
        if (range is null)
        {
            Log.Add($"  {UnmapCallers.Describe(caller)}: kvm_tdp_mmu_unmap_gfn_range() not reached in this design");
            return false;
        }

        var decision = design.UnmapRootTypes(IsMirrored, range);
        var flush = false;
        var walked = new List<string>();
        foreach (var root in Mmu.Roots.ToList())
        {
            if (!decision.ZapsRoot(root.Role))
            {
                continue;
            }

            // The pending flush goes from one root to the next (flush = tdp_mmu_zap_leafs(..., flush)),
            // so a yield in this root first flushes what an earlier root zapped.
            var before = Mmu.On(root, () => Mmu.PresentLeaves(start, end));
            flush = Mmu.On(root, () => Mmu.ZapLeafs(start, end, flush));
            walked.Add(before.Count == 0 ? $"{root} (nothing mapped)" : $"{root} (zapped {string.Join(", ", before.Select(g => $"0x{g:x}"))})");
        }

        // Which roots were walked is news only where there is more than one.
        if (IsMirrored || Mmu.Roots.Count > 1)
        {
            Log.Add($"  kvm_tdp_mmu_unmap_gfn_range ({TdpMmuRoots.KernelName(decision.Zaps)}): walked {(walked.Count == 0 ? "no root" : string.Join(", ", walked))}");
        }

        return flush;
    }

    /// <summary>
    /// kvm_mmu_zap_all_fast() -> kvm_tdp_mmu_invalidate_roots(): the valid direct root becomes
    /// invalid, and vCPUs load a new one (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS). The invalid root keeps
    /// its SPTEs until <see cref="ZapInvalidatedRoots"/>; mirror roots are not invalidated here.
    /// </summary>
    public void InvalidateRoots()
    {
        Mmu.InvalidateDirectRoot();
        FlushRemoteTlbs("vCPUs load the new root");
        Log.Add("kvm_tdp_mmu_invalidate_roots: the direct root is invalid; vCPUs use a new one");
        AfterOperation("kvm_mmu_zap_all_fast");
    }

    /// <summary>kvm_tdp_mmu_zap_invalidated_roots(): zap each invalid root to the top and free it.</summary>
    public void ZapInvalidatedRoots()
    {
        foreach (var root in Mmu.Roots.Where(r => r.Invalid).ToList())
        {
            Mmu.On(root, () => Mmu.ZapRoot());
            Mmu.Roots.Remove(root);
            Mmu.Tables.Free(root.TablePfn);
            Log.Add($"kvm_tdp_mmu_zap_invalidated_roots: {root} zapped and freed");
        }

        AfterOperation("kvm_tdp_mmu_zap_invalidated_roots");
    }

    /// <summary>
    /// tdp_mmu_get_root_for_fault(): in a TDX VM, a GPA with the shared bit uses the direct root,
    /// one without it the mirror root; the memslot and attributes are looked up without the bit.
    /// </summary>
    private (TdpRoot Root, ulong Gfn) RootForFault(ulong gfn)
    {
        if (!IsMirrored)
        {
            return (Mmu.DirectRoot, gfn);
        }

        return (gfn & GfnDirectBits) != 0 ? (Mmu.DirectRoot, gfn & ~GfnDirectBits) : (Mmu.MirrorRoot!, gfn);
    }

    /// <summary>kvm_mmu_faultin_pfn_private(): kvm_gmem_get_pfn() allocates the private page on first use.</summary>
    private ulong GmemGetPfn(ulong gfn)
    {
        if (!_gmem.TryGetValue(gfn, out var pfn))
        {
            _gmem[gfn] = pfn = _nextGmemPfn++;
        }

        return pfn;
    }

    /// <summary>
    /// kvm_mmu_hugepage_adjust() for mixed attributes: a huge page is disallowed where its range
    /// holds both private and shared GFNs (KVM_LPAGE_MIXED_FLAG).
    /// </summary>
    private bool AttributesMixed(ulong gfn, int level)
    {
        if (_private.Count == 0)
        {
            return false;
        }

        var start = TdpWalker.GfnRoundForLevel(gfn, level);
        var first = IsPrivate(start);
        for (ulong i = 1; i < TdpWalker.PagesPerHpage(level); i++)
        {
            if (IsPrivate(start + i) != first)
            {
                return true;
            }
        }

        return false;
    }
}
