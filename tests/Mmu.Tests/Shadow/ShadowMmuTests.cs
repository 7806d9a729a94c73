using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Shadow;
using SpecKit.Mmu.X86;
using static SpecKit.Mmu.Tests.Shadow.ShadowGuest;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests.Shadow;

/// <summary>Shadow pages by (gfn, role), rmaps, write tracking, unsync and resync, prefetch, and the #PF race of seed 004.</summary>
public class ShadowMmuTests
{
    [Fact]
    public void The_root_role_follows_the_cpu_and_forces_efer_nx()
    {
        var wp = KvmMmuPageRole.ForRoot(new GuestCpuState { Cr0Wp = true, Cr4Smep = true });
        var noWp = KvmMmuPageRole.ForRoot(new GuestCpuState { Cr0Wp = false, Cr4Smep = true, Cr4Smap = true, Cr4La57 = true });
        Assert.Equal(new KvmMmuPageRole(4, false, 7, Cr0Wp: true, EferNx: true, SmepAndNotWp: false, SmapAndNotWp: false, AdDisabled: false), wp);
        Assert.Equal(new KvmMmuPageRole(5, false, 7, Cr0Wp: false, EferNx: true, SmepAndNotWp: true, SmapAndNotWp: true, AdDisabled: false), noWp);
        Assert.Equal(wp with { Level = 3, Access = 5 }, wp.Child(direct: false, access: 5));

        // kvm_sync_page_check() ignores level and access, nothing else.
        Assert.True(wp.Child(false, 5).SyncableUnder(wp));
        Assert.False(wp.Child(false, 5).SyncableUnder(noWp with { Level = 4 }));
        Assert.False(wp.Child(direct: true, 5).SyncableUnder(wp));
    }

    [Fact]
    public void A_read_shadows_every_table_on_the_way_write_tracks_the_upper_ones_and_rmaps_the_leaf()
    {
        var guest = new ShadowGuest(leaves: [P | U | A, P | U | A]);
        var vm = guest.Vm;
        Assert.False(guest.Access(Gva, UserRead).Faulted);

        var pt = guest.Page(guest.LeafTableGfn);
        var (sp, index) = Assert.Single(guest.Mmu.Rmap(Gfn));
        Assert.Same(pt, sp);
        Assert.Equal(0, index);
        Assert.Equal((Gfn, (uint)Acc.ACC_USER_MASK | (uint)Acc.ACC_EXEC_MASK), (pt.GetGfn(0), pt.GetAccess(0)));
        Assert.Equal("P U A HOST-W", guest.Mmu.Describe(pt.Spt[0]));

        // Upper-level tables are write-tracked; the 4K table is not (it may become unsync), but
        // no huge page may cover it.
        for (var level = 4; level >= 2; level--)
        {
            Assert.True(guest.Mmu.IsWriteTracked(guest.Guest.Tables.EntryGpa(Gva, level) >> 12));
        }

        Assert.False(guest.Mmu.IsWriteTracked(guest.LeafTableGfn));
        Assert.True(vm.Slot(0).LpageDisallowed(guest.LeafTableGfn, 2));

        // The neighbour was prefetched: mapped, but not Accessed (make_spte with prefetch=true).
        Assert.Equal("P U HOST-W", guest.Mmu.Describe(pt.Spt[1]));
        Assert.Empty(vm.Violations);
    }

    [Fact]
    public void A_guest_store_to_a_4K_table_unsyncs_it_and_a_tlb_flush_syncs_and_protects_it_again()
    {
        var guest = new ShadowGuest(leaves: [P | U | A, P | U | A]);
        var vm = guest.Vm;
        guest.Access(Gva, UserRead);
        var pt = guest.Page(guest.LeafTableGfn);
        var root = guest.Vcpu().ShadowMmu!.Root!;

        var store = guest.StoreGpte(1, Leaf(P | W | U | A | D, page: 1));
        Assert.Equal(1, store.KvmPageFaults);
        Assert.True(pt.Unsync);
        Assert.True(root.UnsyncChildren > 0);
        var (mapper, mapperIndex) = Assert.Single(guest.Mmu.Rmap(guest.LeafTableGfn));
        Assert.True(SpteMasks.IsWritable(mapper.Spt[mapperIndex]));

        // Unsync: the next store goes straight to guest memory, no exit.
        Assert.Equal(0, guest.StoreGpte(1, Leaf(P | W | U | A | D, page: 1)).KvmPageFaults);

        guest.Mmu.FlushTlbGuest(guest.Vcpu());
        Assert.False(pt.Unsync);
        Assert.Equal(0, root.UnsyncChildren);
        Assert.False(SpteMasks.IsWritable(mapper.Spt[mapperIndex]));
        Assert.False(guest.Mmu.Masks.IsMmuWritable(mapper.Spt[mapperIndex]));
        Assert.Equal(guest.Mmu.SpteAccess(pt.Spt[1]), pt.GetAccess(1));
        Assert.Empty(vm.Violations);
    }

    [Fact]
    public void Stores_to_an_upper_level_table_are_emulated_until_write_flooding_zaps_its_shadow_page()
    {
        var guest = new ShadowGuest();
        var vm = guest.Vm;
        guest.Access(Gva, UserRead);
        var pdGfn = guest.Guest.Tables.EntryGpa(Gva, 2) >> 12;
        var pd = guest.Page(pdGfn, level: 2);
        var pde = guest.Guest.Gpte(Gva, 2);

        // Each store is RET_PF_WRITE_PROTECTED and emulated; kvm_mmu_track_write zaps the SPTE
        // that shadowed the written gPDE.
        var first = guest.Guest.WriteGpte(guest.Vcpu(), Gva, 2, pde);
        Assert.Equal(1, first.KvmPageFaults);
        Assert.False(SpteMasks.IsShadowPresent(pd.Spt[GuestWalker.SpteIndex(Gva >> 12, 2)]));
        Assert.True(guest.Mmu.IsWriteTracked(pdGfn));

        guest.Guest.WriteGpte(guest.Vcpu(), Gva, 2, pde);
        guest.Guest.WriteGpte(guest.Vcpu(), Gva, 2, pde);
        Assert.True(pd.Invalid);
        Assert.False(guest.Mmu.IsWriteTracked(pdGfn));
        Assert.Empty(guest.Mmu.PagesWithGptes(pdGfn));

        // No longer shadowed: after one fault to make the mapping writable, stores go straight.
        Assert.Equal(1, guest.Guest.WriteGpte(guest.Vcpu(), Gva, 2, pde).KvmPageFaults);
        Assert.Equal(0, guest.Guest.WriteGpte(guest.Vcpu(), Gva, 2, pde).KvmPageFaults);

        // Walking through it again shadows and write-tracks it again.
        guest.Access(Gva, UserRead);
        Assert.True(guest.Mmu.IsWriteTracked(pdGfn));
        Assert.Empty(vm.Violations);
    }

    [Fact]
    public void Prefetch_maps_valid_neighbours_without_Accessed_and_stops_at_an_invalid_one()
    {
        // Page 1 valid and clean-writable, page 2 never accessed by the guest (no A), page 3 valid.
        var guest = new ShadowGuest(leaves: [P | U | A, P | W | U | A, P | W | U, P | U | A]);
        guest.Access(Gva, UserRead);
        var pt = guest.Page(guest.LeafTableGfn);

        // Clean (no D): FNAME(protect_clean_gpte) leaves out W so the first write can set D.
        Assert.Equal("P U HOST-W", guest.Mmu.Describe(pt.Spt[1]));
        Assert.False(SpteMasks.IsShadowPresent(pt.Spt[2]));
        Assert.False(SpteMasks.IsShadowPresent(pt.Spt[3]));
    }

    [Fact]
    public void Two_puds_sharing_one_pmd_page_get_one_shadow_page_per_access()
    {
        var vm = new Kvm.Kvm(SpecModels.Base, MmuKind.Shadow);
        Assert.Equal(0, vm.CreateMemslot(0, 0, RamPages, MemoryRegionFlags.None, hostLevel: 1));
        var vcpu = vm.CreateVcpu();
        var guest = new GuestKernel(vm);
        const ulong writable = 0x4000_0000, readOnly = 0x8000_0000;
        guest.MapAtBoot(writable, Gfn << 12, Table, Table, Table, P | W | U | A | D);
        var pmdPage = guest.Tables.EntryGpa(writable, 2) & ~0xfffUL;
        guest.LinkAtBoot(readOnly, 3, pmdPage, P | U | A);
        guest.Boot(new GuestCpuState { Cr0Wp = true, EferNx = true });

        Assert.False(vm.Run(vcpu, writable, UserWrite).Faulted);
        Assert.False(vm.Run(vcpu, readOnly, UserRead).Faulted);
        var pmds = vm.Shadow!.PagesWithGptes(pmdPage >> 12).Select(sp => KvmMmuPageRole.DescribeAccess(sp.Role.Access)).Order().ToList();
        Assert.Equal(["u-x", "uwx"], pmds);

        var write = vm.Run(vcpu, readOnly, UserWrite);
        Assert.Equal(PfErr.PFERR_PRESENT_MASK | PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK, write.PageFault?.ErrorCode);
        Assert.Empty(vm.Violations);
    }

    [Fact]
    public void A_supervisor_write_under_cr0_wp_0_maps_a_kernel_page_in_a_page_of_its_own_role()
    {
        var guest = new ShadowGuest(cpu: new GuestCpuState { Cr0Wp = false, Cr4Smep = true, EferNx = true });
        var vm = guest.Vm;
        Assert.False(guest.Access(Gva, SupervisorWrite, value: 0x1234).Faulted);
        var sp = guest.Page(guest.LeafTableGfn);
        Assert.False(sp.Role.Cr0Wp);
        Assert.True(sp.Role.SmepAndNotWp);
        Assert.Equal("P W A D MMU-W HOST-W NX", guest.Mmu.Describe(sp.Spt[0]));

        // CR0.WP=1 is another role: a new root, and the read builds new pages below it, so the
        // kernel-writable SPTE made under CR0.WP=0 is not reached and the write faults.
        guest.Mmu.SetControlRegisters(guest.Vcpu(), guest.Vcpu().Cpu with { Cr0Wp = true });
        Assert.Equal(0x1234UL, guest.Access(Gva, SupervisorRead).Value);
        Assert.Equal(2, guest.Mmu.PagesWithGptes(guest.LeafTableGfn).Count());
        var again = guest.Access(Gva, SupervisorWrite, value: 0x5678);
        Assert.Equal(PfErr.PFERR_PRESENT_MASK | PfErr.PFERR_WRITE_MASK, again.PageFault?.ErrorCode);
        Assert.Empty(vm.Violations);
    }

    /// <summary>vCPU 0's write to a read-only gPTE of an unsync page, and vCPU 1's store that makes it writable, as two concurrent threads.</summary>
    private static Mmu.Concurrency.ConcurrentScenario Seed004Race(string model)
    {
        var guest = new ShadowGuest(model, vcpus: 2, leaves: [P | U | A, P | U | A]);
        guest.Access(Gva, UserRead);
        guest.StoreGpte(1, Leaf(P | U | A, page: 1), vcpu: 1);
        var ctx = new Mmu.Concurrency.ConcurrentKvm(guest.Vm);
        var threads = Mmu.Concurrency.Operations.GuestAccessRacingGpteStore(ctx, guest.Guest, guest.Vcpu(0), Gva, UserWrite, 1, guest.Vcpu(1), GuestWalker.PteLevel, Gva, W | D, "W D", new GuestAccessResult[1]);
        return new Mmu.Concurrency.ConcurrentScenario(ctx, threads);
    }

    [Theory]
    [InlineData("base", 0)]
    [InlineData("SyncSpteLai2022", 2)]
    public void The_pf_race_of_seed_004_breaks_only_the_patch_and_only_where_the_store_lands_between_walk_and_sync(string model, int stale)
    {
        // Seven interleavings: vCPU 1's single store before or after each of vCPU 0's steps that
        // can be preempted (the CPU's access, FNAME(walk_addr), write_lock, FNAME(sync_spte),
        // write_unlock, the #PF delivered). Between the walk and the sync it breaks the patch.
        var result = Mmu.Concurrency.Explorer.Exhaustive(() => Seed004Race(model), preemptionBound: 2);
        Assert.True(result.Complete);
        Assert.Equal(7, result.Schedules);
        Assert.Equal(stale, result.Findings.GetValueOrDefault("#PF left a stale translation"));
        Assert.Equal(stale, result.Failing);
    }

    [Theory]
    [InlineData("base", 0, false)]
    [InlineData("SyncSpteLai2022", 1, true)]
    public void A_pf_injected_while_another_vcpu_made_the_gpte_writable_leaves_no_stale_spte_in_base(string model, int extraExits, bool stale)
    {
        // vCPU 0 walks the read-only gPTE and takes mmu_lock to inject the #PF; vCPU 1 stores W D
        // before FNAME(sync_spte) reads the gPTE (schedule 0001000).
        var race = Seed004Race(model);
        var run = Mmu.Concurrency.Scheduler.Run(race, new Mmu.Concurrency.Scheduler.Follow("0001000"));
        Assert.Equal("0001000", run.Schedule);
        var vm = race.Context.Kvm;
        Assert.Single(vm.Vcpus[0].PageFaults);

        // The guest's handler finds the PTE writable and retries without INVLPG.
        var retry = vm.Run(vm.Vcpus[0], Gva, UserWrite, 2);
        Assert.False(retry.Faulted);
        Assert.Equal(extraExits, retry.KvmPageFaults);
        Assert.Equal(stale, vm.Violations.Any(v => v.Rule == "#PF left a stale translation"));
        Assert.Single(vm.Vcpus[0].PageFaults);
    }
}
