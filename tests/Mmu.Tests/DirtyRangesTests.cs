using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Tests;

public class DirtyRangesTests
{
    [Theory]
    [InlineData(new ulong[] { 0 }, 0x0UL, "none")]
    [InlineData(new ulong[] { 0b1011 }, 0x0UL, "0x0-0x1, 0x3")]
    [InlineData(new ulong[] { ulong.MaxValue, ulong.MaxValue, 1 }, 0x100UL, "0x100-0x180")]
    [InlineData(new ulong[] { 1UL << 63, 1 }, 0x0UL, "0x3f-0x40")]
    public void Bitmaps_read_as_gfn_ranges(ulong[] bitmap, ulong baseGfn, string expected) =>
        Assert.Equal(expected, Kvm.Kvm.DirtyRanges(baseGfn, bitmap));
}
