using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Shadow;

/// <summary>
/// kvm_arch_memory_slot.rmap[KVM_NR_PAGE_SIZES]: for each page size, one rmap head per frame
/// of the slot (gfn_to_rmap, gfn_to_index), listing the SPTEs that map it. Arrays indexed by
/// the frame, as the kernel's are: the rmap walks of dirty logging touch every page of a slot.
/// </summary>
public sealed class SlotRmaps(KvmMemorySlot slot)
{
    private static readonly List<(ShadowPage Page, int Index)> Empty = [];
    private readonly List<(ShadowPage Page, int Index)>?[]?[] _heads = new List<(ShadowPage, int)>?[GuestWalker.MaxHugePageLevel][];

    /// <summary>The SPTEs at <paramref name="level"/> that map <paramref name="gfn"/> (a frame of the slot).</summary>
    public List<(ShadowPage Page, int Index)> Get(ulong gfn, int level) =>
        _heads[level - 1] is { } heads ? heads[Index(gfn, level)] ?? Empty : Empty;

    public void Add(ulong gfn, int level, ShadowPage sp, int index)
    {
        var heads = _heads[level - 1] ??= new List<(ShadowPage, int)>?[Index(slot.EndGfn - 1, level) + 1];
        (heads[Index(gfn, level)] ??= []).Add((sp, index));
    }

    public bool Remove(ulong gfn, int level, ShadowPage sp, int index)
    {
        if (_heads[level - 1] is not { } heads || heads[Index(gfn, level)] is not { } list || !list.Remove((sp, index)))
        {
            return false;
        }

        if (list.Count == 0)
        {
            heads[Index(gfn, level)] = null;
        }

        return true;
    }

    /// <summary>Every non-empty rmap head, for the checker: its level, the first frame it covers, and the SPTEs.</summary>
    public IEnumerable<(int Level, ulong Gfn, List<(ShadowPage Page, int Index)> Sptes)> All()
    {
        for (var level = 1; level <= _heads.Length; level++)
        {
            if (_heads[level - 1] is not { } heads)
            {
                continue;
            }

            var shift = (level - 1) * GuestWalker.LevelBits;
            for (var i = 0; i < heads.Length; i++)
            {
                if (heads[i] is { } sptes)
                {
                    yield return (level, ((slot.BaseGfn >> shift) + (ulong)i) << shift, sptes);
                }
            }
        }
    }

    /// <summary>gfn_to_index(): the frame's index at <paramref name="level"/>, counted from the slot's first.</summary>
    private int Index(ulong gfn, int level)
    {
        var shift = (level - 1) * GuestWalker.LevelBits;
        return (int)((gfn >> shift) - (slot.BaseGfn >> shift));
    }
}
