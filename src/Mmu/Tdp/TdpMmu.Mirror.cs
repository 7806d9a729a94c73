namespace SpecKit.Mmu.Tdp;

/// <summary>
/// The external page table a TDX VM's mirror root stands for: the S-EPT the TDX module owns,
/// which KVM changes only through the hooks (set_external_spte, link_external_spt,
/// remove_external_spte, free_external_spt). The model keeps it as the leaves and tables it
/// holds, so the invariant checker can hold the mirror root and the S-EPT in step.
/// </summary>
public sealed class ExternalPageTable
{
    public SortedDictionary<ulong, ulong> Leaves { get; } = [];

    public HashSet<(int Level, ulong Gfn)> Tables { get; } = [];
}

public sealed partial class TdpMmu
{
    /// <summary>The TDX VM's S-EPT, or null for a VM without mirror roots.</summary>
    public ExternalPageTable? External { get; private set; }

    /// <summary>The valid mirror root of a TDX VM (kvm_tdp_mmu_alloc_root(vcpu, mirror = true)).</summary>
    public TdpRoot? MirrorRoot => Roots.FirstOrDefault(r => r.IsMirror && !r.Invalid);

    /// <summary>
    /// kvm_tdp_mmu_invalidate_roots() for the direct root: it is marked invalid and stays, SPTEs
    /// and all, until kvm_tdp_mmu_zap_invalidated_roots(); walks start from a new valid root.
    /// </summary>
    internal void InvalidateDirectRoot()
    {
        var old = DirectRoot;
        old.Invalid = true;
        var fresh = new TdpRoot(Tables.Alloc(Masks.NonPresentValue), isMirror: false, old.GfnBits);
        Roots.Insert(0, fresh); // list_add_rcu() at the head: the newest root is walked first
        if (_walkRoot == old)
        {
            _walkRoot = fresh;
        }
    }

    /// <summary>The GFNs of the present leaves in [start, end) under the current root, as the root indexes them without its GFN bits.</summary>
    public List<ulong> PresentLeaves(ulong start, ulong end)
    {
        var gfns = new List<ulong>();
        for (var iter = StartWalk(1, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            if (iter.IsPresent && iter.IsLast)
            {
                gfns.Add(iter.Gfn);
            }
        }

        return gfns;
    }

    /// <summary>mmu_alloc_direct_roots() for a mirrored VM: the mirror root first, then the direct one.</summary>
    internal void AllocMirrorRoot()
    {
        External = new ExternalPageTable();
        Roots.Insert(0, new TdpRoot(Tables.Alloc(Masks.NonPresentValue), isMirror: true, gfnBits: 0));
    }

    /// <summary>
    /// The external-page-table hooks, called where handle_changed_spte() and
    /// handle_removed_pt() call them for a mirror root: a new leaf is set in the S-EPT (after the
    /// SPTE was frozen), a new table linked, a zapped leaf removed, an unlinked table freed.
    /// Mirror mappings are 4K only, and a change of PFN under a present leaf is a KVM_BUG.
    /// </summary>
    private void ExternalHook(ulong gfn, ulong @new, int level, bool wasLeaf, bool isLeaf, bool wasTable, bool isTable)
    {
        var external = External!;
        if (wasLeaf && !isLeaf)
        {
            external.Leaves.Remove(gfn);
            Kvm.Log.Add($"remove_external_spte gfn 0x{gfn:x}");
        }

        if (isLeaf && !wasLeaf)
        {
            KvmWarn.On(level != 1, $"set_external_spte: a {LevelName(level)} mirror leaf at gfn 0x{gfn:x}; S-EPT mappings are 4K");
            external.Leaves[gfn] = TdpWalker.SpteToPfn(@new);
            Kvm.Log.Add($"freeze gfn 0x{gfn:x}, set_external_spte -> pfn 0x{TdpWalker.SpteToPfn(@new):x}");
        }

        if (isTable && !wasTable)
        {
            external.Tables.Add((level - 1, gfn));
        }

        if (wasTable && !isTable)
        {
            external.Tables.Remove((level - 1, gfn));
        }
    }
}
