using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Tests;

/// <summary>make_mmio_spte() for both formats (spte.c, spte.h): the value, the GFN and the 19-bit generation.</summary>
public class MmioSpteTests
{
    [Theory]
    [InlineData(SpteFormat.Ept, 0x400UL, 0UL)]
    [InlineData(SpteFormat.Ept, 0xfee00UL, 0xffUL)]
    [InlineData(SpteFormat.Ept, 0x1234UL, 0x100UL)]
    [InlineData(SpteFormat.Ept, 0x1UL, 0x7ffffUL)]
    [InlineData(SpteFormat.Legacy, 0x400UL, 0UL)]
    [InlineData(SpteFormat.Legacy, 0xfee00UL, 0x7ffffUL)]
    public void The_generation_and_gfn_round_trip_and_the_spte_is_mmio_but_not_present(SpteFormat format, ulong gfn, ulong generation)
    {
        var masks = SpecModels.Base.Masks(format);
        var spte = masks.MakeMmio(gfn, (uint)(Acc.ACC_WRITE_MASK | Acc.ACC_USER_MASK), generation);
        Assert.True(masks.IsMmio(spte));
        Assert.False(SpteMasks.IsShadowPresent(spte));
        Assert.Equal(generation, SpteMasks.MmioGeneration(spte));
        Assert.Equal(gfn, masks.MmioGfn(spte));

        // spte.h: an MMIO SPTE uses only SPTE_MMIO_ALLOWED_MASK bits besides the generation.
        Assert.Equal(0UL, spte & ~(SpteValues.SPTE_MMIO_ALLOWED_MASK | SpteValues.MMIO_SPTE_GEN_LOW_MASK | SpteValues.MMIO_SPTE_GEN_HIGH_MASK));
    }

    [Theory]
    [InlineData(SpteFormat.Ept)]
    [InlineData(SpteFormat.Legacy)]
    public void Neither_the_nonpresent_value_nor_a_frozen_spte_is_mmio(SpteFormat format)
    {
        var masks = SpecModels.Base.Masks(format);
        Assert.False(masks.IsMmio(SpteValues.SHADOW_NONPRESENT_VALUE));
        Assert.False(masks.IsMmio(SpteValues.FROZEN_SPTE));
    }
}
