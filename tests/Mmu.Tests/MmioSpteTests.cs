using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Tests;

/// <summary>make_mmio_spte() for EPT (spte.c, spte.h): the value, the GFN and the 19-bit generation.</summary>
public class MmioSpteTests
{
    [Theory]
    [InlineData(0x400UL, 0UL)]
    [InlineData(0xfee00UL, 0xffUL)]
    [InlineData(0x1234UL, 0x100UL)]
    [InlineData(0x1UL, 0x7ffffUL)]
    public void The_generation_and_gfn_round_trip_and_the_spte_is_mmio_but_not_present(ulong gfn, ulong generation)
    {
        var spte = TdpMmu.MakeMmioSpte(gfn, generation);
        Assert.True(TdpMmu.IsMmioSpte(spte));
        Assert.False(TdpWalker.IsShadowPresent(spte));
        Assert.Equal(generation, TdpMmu.MmioGeneration(spte));
        Assert.Equal(gfn, new MmioSpte(spte).Gpa);

        // spte.h: an MMIO SPTE uses only SPTE_MMIO_ALLOWED_MASK bits besides the generation.
        Assert.Equal(0UL, spte & ~(SpteValues.SPTE_MMIO_ALLOWED_MASK | SpteValues.MMIO_SPTE_GEN_LOW_MASK | SpteValues.MMIO_SPTE_GEN_HIGH_MASK));
    }

    [Fact]
    public void Neither_the_nonpresent_value_nor_a_frozen_spte_is_mmio()
    {
        Assert.False(TdpMmu.IsMmioSpte(SpteValues.SHADOW_NONPRESENT_VALUE));
        Assert.False(TdpMmu.IsMmioSpte(SpteValues.FROZEN_SPTE));
    }
}
