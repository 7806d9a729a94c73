using SpecKit.Mmu;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The generated masks against the kernel's own values (../shared/kvm-reference.md §A, read
/// from arch/x86/kvm/mmu/spte.h, mmu.h and asm/vmx.h). The numbers here are typed from the
/// kernel, not derived from the spec, so a wrong bit in spec/ fails this test.
/// </summary>
public class KernelMaskTests
{
    public static TheoryData<string, ulong, ulong> Masks() => new()
    {
        { "VMX_EPT_READABLE_MASK", EptSpte.ReadableMask, 0x1 },
        { "VMX_EPT_WRITABLE_MASK", EptSpte.WritableMask, 0x2 },
        { "VMX_EPT_EXECUTABLE_MASK", EptSpte.ExecutableMask, 0x4 },
        { "VMX_EPT_RWX_MASK", SpteValues.VMX_EPT_RWX_MASK, 0x7 },
        { "VMX_EPT_MT_MASK", EptSpte.MemTypeMask, 7UL << 3 },
        { "VMX_EPT_IPAT_BIT", EptSpte.IgnorePatMask, 0x40 },
        { "VMX_EPT_ACCESS_BIT", EptSpte.AccessedMask, 0x100 },
        { "VMX_EPT_DIRTY_BIT", EptSpte.DirtyMask, 0x200 },
        { "VMX_EPT_SUPPRESS_VE_BIT", EptSpte.SuppressVeMask, 0x8000000000000000 },
        { "VMX_EPT_MISCONFIG_WX_VALUE", SpteValues.VMX_EPT_MISCONFIG_WX_VALUE, 0x6 },
        { "PT_PRESENT_MASK", LegacySpte.PresentMask, 0x1 },
        { "PT_WRITABLE_MASK", LegacySpte.WritableMask, 0x2 },
        { "PT_USER_MASK", LegacySpte.UserMask, 0x4 },
        { "PT_PWT_MASK", LegacySpte.PwtMask, 0x8 },
        { "PT_PCD_MASK", LegacySpte.PcdMask, 0x10 },
        { "PT_ACCESSED_MASK", LegacySpte.AccessedMask, 0x20 },
        { "PT_DIRTY_MASK", LegacySpte.DirtyMask, 0x40 },
        { "PT_PAGE_SIZE_MASK", SpteValues.PT_PAGE_SIZE_MASK, 0x80 },
        { "PT_PAT_MASK (4K)", GuestPte4K.PatMask, 0x80 },
        { "PT_GLOBAL_MASK", LegacySpte.GlobalMask, 0x100 },
        { "PT_DIR_PAT_MASK", SpteValues.PT_DIR_PAT_MASK, 0x1000 },
        { "PT64_NX_MASK", SpteValues.PT64_NX_MASK, 0x8000000000000000 },
        { "SPTE_MMU_PRESENT_MASK", SpteValues.SPTE_MMU_PRESENT_MASK, 0x800 },
        { "SPTE_TDP_AD_MASK", SpteValues.SPTE_TDP_AD_MASK, 0x0030000000000000 },
        { "SPTE_TDP_AD_ENABLED", SpteValues.SPTE_TDP_AD_ENABLED, 0 },
        { "SPTE_TDP_AD_DISABLED", SpteValues.SPTE_TDP_AD_DISABLED, 0x0010000000000000 },
        { "SPTE_TDP_AD_WRPROT_ONLY", SpteValues.SPTE_TDP_AD_WRPROT_ONLY, 0x0020000000000000 },
        { "SHADOW_ACC_TRACK_SAVED_BITS_MASK", SpteValues.SHADOW_ACC_TRACK_SAVED_BITS_MASK, 0x5 },
        { "saved R (bit 54)", EptSpte.SavedReadableMask, 0x0040000000000000 },
        { "saved X (bit 56)", EptSpte.SavedExecutableMask, 0x0100000000000000 },
        { "SHADOW_ACC_TRACK_SAVED_BITS_SHIFT", (ulong)EptSpte.SavedReadableShift, 54 },
        { "DEFAULT_SPTE_HOST_WRITABLE", SpteValues.DEFAULT_SPTE_HOST_WRITABLE, 0x200 },
        { "DEFAULT_SPTE_MMU_WRITABLE", SpteValues.DEFAULT_SPTE_MMU_WRITABLE, 0x400 },
        { "EPT_SPTE_HOST_WRITABLE", SpteValues.EPT_SPTE_HOST_WRITABLE, 0x0200000000000000 },
        { "EPT_SPTE_MMU_WRITABLE", SpteValues.EPT_SPTE_MMU_WRITABLE, 0x0400000000000000 },
        { "SPTE_BASE_ADDR_MASK", SpteValues.SPTE_BASE_ADDR_MASK, 0x000FFFFFFFFFF000 },
        { "SHADOW_NONPRESENT_VALUE", SpteValues.SHADOW_NONPRESENT_VALUE, 0x8000000000000000 },
        { "FROZEN_SPTE", SpteValues.FROZEN_SPTE, 0x80000000000005A0 },
        { "MMIO_SPTE_GEN_LOW_MASK", SpteValues.MMIO_SPTE_GEN_LOW_MASK, 0x7F8 },
        { "MMIO_SPTE_GEN_HIGH_MASK", SpteValues.MMIO_SPTE_GEN_HIGH_MASK, 0x7FF0000000000000 },
        { "MMIO_SPTE_GEN_LOW_SHIFT", (ulong)MmioSpte.GenLowShift, 3 },
        { "MMIO_SPTE_GEN_MASK", SpteValues.MMIO_SPTE_GEN_MASK, 0x7FFFF },
        { "SPTE_MMIO_ALLOWED_MASK", SpteValues.SPTE_MMIO_ALLOWED_MASK, 0x800FFFFFFFFFF007 },
        { "EPT MMIO mask (RWX | SUPPRESS_VE)", SpteValues.EPT_MMIO_MASK, 0x8000000000000007 },
        { "non-EPT MMIO value (BIT(51) | P)", SpteValues.LEGACY_MMIO_VALUE, 0x0008000000000001 },
        { "PFERR_PRESENT_MASK", PfErr.PFERR_PRESENT_MASK, 0x1 },
        { "PFERR_WRITE_MASK", PfErr.PFERR_WRITE_MASK, 0x2 },
        { "PFERR_USER_MASK", PfErr.PFERR_USER_MASK, 0x4 },
        { "PFERR_RSVD_MASK", PfErr.PFERR_RSVD_MASK, 0x8 },
        { "PFERR_FETCH_MASK", PfErr.PFERR_FETCH_MASK, 0x10 },
        { "PFERR_PK_MASK", PfErr.PFERR_PK_MASK, 0x20 },
        { "PFERR_IMPLICIT_ACCESS", PfErr.PFERR_IMPLICIT_ACCESS, 0x0001000000000000 },
        { "ACC_EXEC_MASK", Acc.ACC_EXEC_MASK, 0x1 },
        { "ACC_WRITE_MASK", Acc.ACC_WRITE_MASK, 0x2 },
        { "ACC_USER_MASK", Acc.ACC_USER_MASK, 0x4 },
        { "ACC_ALL", Acc.ACC_ALL, 0x7 },
        { "guest PT_PRESENT_MASK", GuestWalker.PresentMask, 0x1 },
        { "guest PT_PAGE_SIZE_MASK", GuestWalker.HugeMask, 0x80 },
        { "guest PT_BASE_ADDR_MASK (MAXPHYADDR 52)", GuestWalker.AddressMask, 0x000FFFFFFFFFF000 },
        { "guest PT_DIRTY_MASK (4K, 2M, 1G)", GuestPte4K.DirtyMask & GuestPde2M.DirtyMask & GuestPdpte1G.DirtyMask, 0x40 },
        { "guest PT64_NX_MASK", GuestPteNonLeaf.NxMask, 0x8000000000000000 },
        { "guest 2M leaf rsvd_bits(13, 20)", GuestPde2M.ReservedMask, 0x00000000001FE000 },
        { "guest 1G leaf rsvd_bits(13, 29)", GuestPdpte1G.ReservedMask, 0x000000003FFFE000 },
    };

    [Theory]
    [MemberData(nameof(Masks))]
    public void Generated_mask_equals_the_kernel_value(string kernelName, ulong generated, ulong kernel) =>
        Assert.True(generated == kernel, $"{kernelName}: spec gives 0x{generated:x16}, kernel has 0x{kernel:x16}");

    [Fact]
    public void The_mmio_generation_is_19_bits_split_across_the_two_fields()
    {
        // spte.h: MMIO_SPTE_GEN_HIGH_SHIFT = 52 - 8; the two fields hold gen[7:0] and gen[18:8].
        Assert.Equal(19, MmioSpte.GenLowWidth + MmioSpte.GenHighWidth);
        Assert.Equal(52 - 8, MmioSpte.GenHighShift - MmioSpte.GenLowWidth);
    }

    [Fact]
    public void Frozen_spte_is_not_present_and_sets_no_rwx_or_pfn_bits()
    {
        // spte.h static_asserts on FROZEN_SPTE.
        var frozen = new EptSpte(SpteValues.FROZEN_SPTE);
        Assert.False(frozen.MmuPresent);
        Assert.Equal(0UL, SpteValues.FROZEN_SPTE & SpteValues.VMX_EPT_RWX_MASK);
        Assert.Equal(0UL, frozen.Pfn);
    }

    [Fact]
    public void Host_and_mmu_writable_stay_clear_of_the_ad_type_and_saved_bits()
    {
        // spte.h static_asserts on EPT_SPTE_HOST_WRITABLE / EPT_SPTE_MMU_WRITABLE.
        var software = SpteValues.SPTE_TDP_AD_MASK | SpteValues.SHADOW_ACC_TRACK_SAVED_MASK;
        Assert.Equal(0UL, (SpteValues.EPT_SPTE_HOST_WRITABLE | SpteValues.EPT_SPTE_MMU_WRITABLE) & software);
    }

    [Fact]
    public void The_variant_keeps_the_old_frozen_value_beside_the_new_one()
    {
        Assert.Equal(0x5a0UL, SpecKit.Mmu.Variants.RemovedSpte.SpteValues.FROZEN_SPTE);
        Assert.Equal(0UL, SpecKit.Mmu.Variants.RemovedSpte.SpteValues.SHADOW_NONPRESENT_VALUE);
        Assert.Equal(0x80000000000005A0UL, SpteValues.FROZEN_SPTE);
        Assert.Equal("RemovedSpte", SpecKit.Mmu.Variants.RemovedSpte.SpecModel.Name);
    }

    [Fact]
    public void Tdp_walker_geometry_is_the_kernels()
    {
        Assert.Equal(512, TdpWalker.EntriesPerTable);
        Assert.Equal(new ulong[] { 1, 512, 262144 }, new[] { TdpWalker.PagesPerHpage(1), TdpWalker.PagesPerHpage(2), TdpWalker.PagesPerHpage(3) });
        Assert.Equal(3, TdpWalker.MaxHugePageLevel);
        Assert.Equal((4, 5), (TdpWalker.MinRootLevel, TdpWalker.MaxRootLevel));
        Assert.Equal(0x1ffUL & (0x12345678UL >> 9), (ulong)TdpWalker.SpteIndex(0x12345678, 2));
        Assert.Equal(0x12345600UL & ~0x1ffUL, TdpWalker.GfnRoundForLevel(0x123456ff, 2));
    }

    [Fact]
    public void Guest_walker_geometry_is_x86_64_paging()
    {
        // paging_tmpl.h PTTYPE 64: PT_LEVEL_BITS 9, PT_MAX_FULL_LEVELS = PT64_ROOT_MAX_LEVEL = 5;
        // PT_INDEX(addr, level) = (addr >> (12 + (level - 1) * 9)) & 511.
        Assert.Equal((12, 9, 512), (GuestWalker.PageShift, GuestWalker.LevelBits, GuestWalker.EntriesPerTable));
        Assert.Equal((4, 5), (GuestWalker.MinRootLevel, GuestWalker.MaxRootLevel));
        Assert.Equal(3, GuestWalker.MaxHugePageLevel);
        Assert.Equal((1, 2, 3, 4, 5), (GuestWalker.PteLevel, GuestWalker.PdeLevel, GuestWalker.PdpteLevel, GuestWalker.Pml4eLevel, GuestWalker.Pml5eLevel));
        const ulong addr = 0x00ff_1234_5678_9abc;
        Assert.Equal((int)((addr >> 39) & 511), GuestWalker.SpteIndex(addr >> 12, 4));
        Assert.Equal((int)((addr >> 48) & 511), GuestWalker.SpteIndex(addr >> 12, 5));
        Assert.DoesNotContain(typeof(GuestWalker).Assembly.GetTypes(), t => t.Name == "GuestIter");
    }
}
