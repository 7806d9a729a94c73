using SpecKit.Mmu.Shadow;
using SpecKit.Mmu.X86;
using static SpecKit.Mmu.Tests.Shadow.ShadowGuest;

namespace SpecKit.Mmu.Tests.Shadow;

/// <summary>
/// FNAME(sync_spte)'s decision table, run on a real unsync page under each model: the gPTE for
/// <see cref="ShadowGuest.Gva"/> is changed without a flush, then INVLPG syncs its SPTE.
/// </summary>
public class SyncSpteTests
{
    public static TheoryData<string, string, ulong, ulong, string> Table()
    {
        var data = new TheoryData<string, string, ulong, ulong, string>();
        void Row(string change, ulong before, ulong after, string current, string lai, string loop2022)
        {
            data.Add("base", change, before, after, current);
            data.Add("SyncSpteLai2022", change, before, after, lai);
            data.Add("SyncPage2022", change, before, after, loop2022);
        }

        const ulong ro = P | U | A, rw = P | W | U | A | D;
        Row("not present", ro, 0, "dropped", "dropped", "dropped");
        Row("Accessed cleared", rw, Leaf(rw & ~A), "dropped", "dropped", "dropped");
        Row("another frame", ro, Leaf(ro, page: 2), "dropped", "dropped", "dropped");
        Row("unchanged", ro, Leaf(ro), "kept", "kept", "rebuilt u-x P U HOST-W");
        Row("W added", ro, Leaf(rw), "rebuilt uwx P W U A D MMU-W HOST-W", "kept", "rebuilt uwx P W U D MMU-W HOST-W");
        Row("W removed", rw, Leaf(rw & ~W), "rebuilt u-x P U A HOST-W", "rebuilt u-x P U A HOST-W", "rebuilt u-x P U HOST-W");
        Row("Dirty cleared", rw, Leaf(rw & ~D), "rebuilt u-x P U A HOST-W", "rebuilt u-x P U A HOST-W", "rebuilt u-x P U HOST-W");
        Row("U removed", ro, Leaf(ro & ~U), "rebuilt --x P A HOST-W", "dropped", "rebuilt --x P HOST-W");
        return data;
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void Invlpg_syncs_the_spte_as_the_model_says(string model, string change, ulong before, ulong after, string expected)
    {
        var guest = new ShadowGuest(model, leaves: [before, P | U | A]);
        var vm = guest.Vm;
        Assert.False(guest.Access(Gva, before == (P | U | A) ? UserRead : UserWrite).Faulted);
        var spteBefore = guest.LeafSpte();

        // A store to another gPTE of the table makes its shadow page unsync; then the change.
        guest.StoreGpte(1, Leaf(P | U | A, page: 1));
        Assert.True(guest.Page(guest.LeafTableGfn).Unsync);
        guest.StoreGpte(0, after);

        var exits = guest.Vcpu().KvmPageFaults;
        guest.Mmu.Invlpg(guest.Vcpu(), Gva);
        Assert.Equal(exits, guest.Vcpu().KvmPageFaults);

        var sp = guest.Page(guest.LeafTableGfn);
        var spte = sp.Spt[0];
        var outcome = !SpteMasks.IsShadowPresent(spte) ? "dropped"
            : spte == spteBefore ? "kept"
            : $"rebuilt {KvmMmuPageRole.DescribeAccess(sp.GetAccess(0))} {guest.Mmu.Describe(spte)}";
        Assert.True(expected == outcome, $"{model}, {change}: expected {expected}, got {outcome}\n{string.Join("\n", vm.Log)}");
        Assert.Empty(vm.Violations);
    }
}
