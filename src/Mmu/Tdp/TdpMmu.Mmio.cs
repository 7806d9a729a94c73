using SpecKit.Mmu.Guest;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>The 4K entry for <paramref name="gfn"/>, if the walk reaches level 1 (present tables all the way).</summary>
    public ulong? Entry4K(ulong gfn)
    {
        var table = Tables[Root];
        for (var level = RootLevel; level > 1; level--)
        {
            var spte = table[TdpWalker.SpteIndex(gfn | WalkRoot.GfnBits, level)];
            if (!TdpWalker.IsShadowPresent(spte) || TdpWalker.IsLastSpte(spte, level))
            {
                return null;
            }

            table = Tables[TdpWalker.SpteToPfn(spte)];
        }

        return table[TdpWalker.SpteIndex(gfn, 1)];
    }

    /// <summary>
    /// The no-slot path of kvm_tdp_mmu_map(): link tables down to 4K and install an MMIO SPTE
    /// (make_mmio_spte with ACC_ALL, RET_PF_EMULATE, pf_mmio_spte_created), so the next access
    /// exits as an EPT misconfiguration (NPT: a reserved-bit #NPF) that KVM emulates without a
    /// walk, unless memslots changed since.
    /// </summary>
    public void MapMmio(ulong gfn, ulong generation)
    {
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (iter.Level == 1)
            {
                SetSpte(ref iter, Masks.MakeMmio(gfn, (uint)Acc.ACC_ALL, generation), "make_mmio_spte");
                return;
            }

            if (iter.IsPresent && !iter.IsLast)
            {
                continue;
            }

            KvmWarn.On(iter.IsPresent, $"make_mmio_spte: a huge leaf maps gfn 0x{gfn:x}, which has no memslot");
            SetSpte(ref iter, Masks.MakeNonLeaf(Tables.Alloc(Masks.NonPresentValue), !AdEnabled), "kvm_tdp_mmu_map");
        }
    }

    /// <summary>A stale MMIO SPTE is zapped so the fault takes the slow path (handle_mmio_page_fault returning RET_PF_INVALID).</summary>
    public void ZapMmioSpte(ulong gfn)
    {
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (iter.Level == 1 && Masks.IsMmio(iter.OldSpte))
            {
                SetSpte(ref iter, Masks.NonPresentValue, "handle_mmio_page_fault");
            }
        }
    }
}
