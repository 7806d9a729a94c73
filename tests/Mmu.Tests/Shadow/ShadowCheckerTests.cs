using SpecKit.Mmu.Policy;
using SpecKit.Mmu.X86;
using static SpecKit.Mmu.Tests.Shadow.ShadowGuest;

namespace SpecKit.Mmu.Tests.Shadow;

/// <summary>The shadow VM's checker catches what it claims to: each rule broken on purpose.</summary>
public class ShadowCheckerTests
{
    [Fact]
    public void A_gpte_changed_behind_kvm_s_back_in_a_synced_table_is_reported()
    {
        var guest = new ShadowGuest();
        var vm = guest.Vm;
        guest.Access(Gva, UserRead);
        var gpa = guest.Guest.Tables.EntryGpa(Gva, 1);

        // Guest memory written directly (by the VMM), not by a guest store through a mapping KVM controls.
        vm.UserMemory.WritePte(gpa, vm.UserMemory.ReadPte(gpa) & ~A);
        vm.CheckInvariants("a write that bypassed the shadow MMU");
        Assert.Contains(vm.Violations, v => v.Rule == "Accessed/Dirty lost");

        vm.Violations.Clear();
        vm.UserMemory.WritePte(gpa, Leaf(P | U | A, page: 3));
        vm.CheckInvariants("another write that bypassed the shadow MMU");
        Assert.Contains(vm.Violations, v => v.Rule == "shadow page disagrees with its guest table");
    }

    [Fact]
    public void A_writable_mapping_of_a_synced_guest_table_is_reported()
    {
        var guest = new ShadowGuest();
        var vm = guest.Vm;
        guest.Access(Gva, UserRead);
        guest.Access(SpecKit.Mmu.Guest.GuestKernel.DirectMap(guest.LeafTableGfn << 12), SupervisorRead);

        // The read mapped the table writable (its gPTE is writable and dirty), which unsynced it
        // (make_spte -> mmu_try_to_unsync_pages); a TLB flush syncs it and protects it again.
        Assert.True(guest.Page(guest.LeafTableGfn).Unsync);
        guest.Mmu.FlushTlbGuest(guest.Vcpu());
        var (mapper, index) = Assert.Single(guest.Mmu.Rmap(guest.LeafTableGfn));
        Assert.False(SpteMasks.IsWritable(mapper.Spt[index]));
        Assert.Empty(vm.Violations);

        mapper.Spt[index] |= LegacySpte.WritableMask;
        vm.CheckInvariants("an SPTE made writable behind the shadow MMU's back");
        Assert.Contains(vm.Violations, v => v.Rule == "shadowed guest table writable");
    }

    [Fact]
    public void Without_prefetch_invalid_gpte_dropping_unaccessed_gptes_keeping_spte_would_lose_an_Accessed_update()
    {
        // The base policy, but an invalid gPTE's SPTE is kept: what seed 004's "no A/D is lost"
        // argument rests on, taken away.
        var rules = SpecModels.Named("base").Rules;
        var sync = rules.SyncSpte with { Sync = rules.SyncSpte.Sync! with { InvalidGpte = SyncAction.Keep } };
        var broken = SpecModels.Base with { Name = "InvalidGpteKept", Rules = rules with { Model = "InvalidGpteKept", SyncSpte = sync } };
        var guest = new ShadowGuest(broken, leaves: [P | U | A, P | U | A]);
        guest.Access(Gva, UserRead);

        // The guest ages the page (clears A) and flushes: the SPTE stays, so the next access
        // would not exit and A would never be set again.
        guest.StoreGpte(0, guest.Guest.Gpte(Gva, 1) & ~A);
        guest.Mmu.FlushTlbGuest(guest.Vcpu());
        Assert.Contains(guest.Vm.Violations, v => v.Rule == "Accessed/Dirty lost");
    }
}
