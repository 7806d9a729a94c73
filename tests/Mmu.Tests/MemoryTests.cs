using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests;

/// <summary>
/// The MMU's own structures cost at most 8.5 bytes per mapped 4 KiB page: the 4 KiB leaf
/// tables are 8 bytes a page, and everything above them must stay small. Measured in bytes
/// the page tables hold, which is deterministic, rather than in time.
/// </summary>
public class MemoryTests
{
    [Fact]
    public void Mapping_1_GiB_at_4K_costs_at_most_8_5_bytes_a_page_of_MMU_structures()
    {
        const ulong pages = 1UL << 18;
        var kvm = new Kvm.Kvm(SpecModels.Base) { CheckEveryOperation = false };
        var vcpu = kvm.CreateVcpu();
        kvm.CreateMemslot(0, 0, pages, MemoryRegionFlags.None, hostLevel: 1);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var fixedFaults = 0;
        for (ulong gfn = 0; gfn < pages; gfn++)
        {
            fixedFaults += kvm.Tdp!.PageFault(vcpu, gfn, SpecKit.Mmu.Kvm.AccessKind.Read) == SpecKit.Mmu.Tdp.PageFaultResult.Fixed ? 1 : 0;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((int)pages, fixedFaults);

        // Page tables: one array of 512 entries each (plus the array header), as the store keeps them.
        var tableBytes = kvm.Tdp!.Tables.LiveTables * ((512 * sizeof(ulong)) + 24);
        var perPage = (double)tableBytes / pages;
        Assert.True(perPage <= 8.5, $"{perPage:F3} bytes of page tables per mapped page");

        // The fault path allocates little beyond the tables themselves (a short-lived iterator
        // path per walk), so nothing else can be growing per mapped page.
        Assert.True(allocated / (double)pages < 200, $"{allocated / (double)pages:F1} bytes allocated per fault");
    }
}
