namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>
    /// spte.c make_mmio_spte() for EPT: the W|X misconfiguration value, the GFN, and the memslot
    /// generation split over bits 10:3 and 62:52, so that the next access exits as an EPT
    /// misconfiguration and KVM can emulate it without a walk, unless memslots changed since.
    /// </summary>
    public static ulong MakeMmioSpte(ulong gfn, ulong generation) =>
        new MmioSpte(0)
            .WithValue(SpteValues.VMX_EPT_MISCONFIG_WX_VALUE)
            .WithGpa(gfn)
            .WithGenLow(generation & ((1UL << MmioSpte.GenLowWidth) - 1))
            .WithGenHigh((generation >> MmioSpte.GenLowWidth) & ((1UL << MmioSpte.GenHighWidth) - 1))
            .Raw;

    /// <summary>
    /// spte.h is_mmio_spte() for EPT: (spte &amp; RWX|SUPPRESS_VE) == W|X, so an MMIO SPTE has #VE
    /// unsuppressed, unlike SHADOW_NONPRESENT_VALUE (spte.c kvm_mmu_set_ept_masks()).
    /// </summary>
    public static bool IsMmioSpte(ulong spte) => (spte & SpteValues.EPT_MMIO_MASK) == SpteValues.VMX_EPT_MISCONFIG_WX_VALUE;

    /// <summary>get_mmio_spte_generation().</summary>
    public static ulong MmioGeneration(ulong spte)
    {
        var mmio = new MmioSpte(spte);
        return mmio.GenLow | (mmio.GenHigh << MmioSpte.GenLowWidth);
    }

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
    /// (RET_PF_EMULATE, pf_mmio_spte_created).
    /// </summary>
    public void MapMmio(ulong gfn, ulong generation)
    {
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (iter.Level == 1)
            {
                SetSpte(ref iter, MakeMmioSpte(gfn, generation), "make_mmio_spte");
                return;
            }

            if (iter.IsPresent && !iter.IsLast)
            {
                continue;
            }

            KvmWarn.On(iter.IsPresent, $"make_mmio_spte: a huge leaf maps gfn 0x{gfn:x}, which has no memslot");
            SetSpte(ref iter, MakeSpte.NonLeaf(Tables.Alloc(SpteValues.SHADOW_NONPRESENT_VALUE), AdEnabled), "kvm_tdp_mmu_map");
        }
    }

    /// <summary>A stale MMIO SPTE is zapped so the fault takes the slow path (handle_mmio_page_fault returning RET_PF_INVALID).</summary>
    public void ZapMmioSpte(ulong gfn)
    {
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (iter.Level == 1 && IsMmioSpte(iter.OldSpte))
            {
                SetSpte(ref iter, SpteValues.SHADOW_NONPRESENT_VALUE, "handle_mmio_page_fault");
            }
        }
    }
}
