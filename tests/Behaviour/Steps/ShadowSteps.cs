using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Shadow;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Steps that only make sense under shadow paging: the guest's mappings and CPU state, guest
/// accesses by virtual address and stores to its page tables, INVLPG, TLB flushes and CR
/// writes, and what KVM's shadow pages show. What every VM has (memslots, dirty logging, the
/// host's events, the checker) is in <see cref="VmSteps"/>.
/// </summary>
[Binding]
public sealed class ShadowSteps(VmWorld world)
{
    /// <summary>The flags of the guest's upper-level entries: present, writable, user, accessed.</summary>
    internal const ulong Table = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask | GuestPteNonLeaf.UserMask | GuestPteNonLeaf.AccessedMask;

    /// <summary>The value a guest store writes: distinct per store, so a snapshot shows which one landed.</summary>
    private ulong _nextValue = 0x1000;

    private Kvm Kvm => world.Kvm;

    private GuestKernel Guest => world.Guest;

    private ShadowMmu Shadow => Kvm.Shadow ?? throw new InvalidOperationException("this step asks the shadow MMU: make the VM with '... on shadow paging'");

    private GuestAccessResult Last => world.LastAccess ?? throw new InvalidOperationException("no access yet: 'When vCPU 0 makes a user read to gva ...'");

    [Given("the guest's vCPUs boot with {cpu_bits}")]
    public void BootWith(CpuBits bits)
    {
        Assert.False(world.Booted, "the vCPUs have booted already: change CR0/CR4 with 'vCPU n sets ... in its control registers'");
        world.BootCpu = bits.ApplyTo(world.BootCpu);
    }

    [Given("the guest maps gva {gva} to gpa {gpa} with PTE flags {gpte_flags}")]
    public void Maps(ulong gva, ulong gpa, GpteFlags flags) => Guest.MapAtBoot(gva, gpa, Table, Table, Table, flags.Mask);

    [Given("the guest maps gva {gva} to gpa {gpa} with PDPTE flags {gpte_flags} and PTE flags {gpte_flags}")]
    public void MapsWithPdpte(ulong gva, ulong gpa, GpteFlags pdpte, GpteFlags pte) => Guest.MapAtBoot(gva, gpa, Table, pdpte.Mask, Table, pte.Mask);

    [Given("the guest points the PDPTE for gva {gva} at the page directory of gva {gva}, with flags {gpte_flags}")]
    public void SharesPageDirectory(ulong gva, ulong other, GpteFlags flags) =>
        Guest.LinkAtBoot(gva, GuestWalker.PdpteLevel, Guest.Tables.EntryGpa(other, GuestWalker.PdeLevel) & ~0xfffUL, flags.Mask);

    [Given("vCPU {int} has made a(n) {guest_access} to gva {gva}")]
    [When("vCPU {int} makes a(n) {guest_access} to gva {gva}")]
    public void Accesses(int vcpu, GuestAccess access, ulong gva) =>
        world.LastAccess = Kvm.Run(world.Vcpu(vcpu), gva, access, access.Kind == GuestAccessKind.Write ? _nextValue++ : 0);

    [When("vCPU {int} makes a(n) {guest_access} to the {entry} table of gva {gva} through the direct map")]
    public void AccessesTable(int vcpu, GuestAccess access, int level, ulong gva) =>
        Accesses(vcpu, access, DirectMapOfTable(level, gva));

    /// <summary>
    /// Seed 004's race in one schedule (a run of the concurrent feature, or of the explorer,
    /// printed as a step): the two vCPUs' steps in the order the schedule string gives, one digit
    /// per step, the thread's index (0: the access, 1: the store).
    /// </summary>
    [When("vCPU {int} makes a(n) {guest_access} to gva {gva} while vCPU {int} sets {gpte_flags} in the {entry} for gva {gva}, in the schedule {schedule}")]
    public void AccessRacingStore(int vcpu, GuestAccess access, ulong gva, int other, GpteFlags flags, int level, ulong target, string schedule)
    {
        var outcome = new GuestAccessResult[1];
        var ctx = new Mmu.Concurrency.ConcurrentKvm(Kvm);
        var threads = Mmu.Concurrency.Operations.GuestAccessRacingGpteStore(ctx, Guest, world.Vcpu(vcpu), gva, access, _nextValue++, world.Vcpu(other), level, target, flags.Mask, flags.ToString(), outcome);
        var run = Mmu.Concurrency.Scheduler.Run(new Mmu.Concurrency.ConcurrentScenario(ctx, threads), new Mmu.Concurrency.Scheduler.Follow(schedule));
        Assert.True(run.Warning is null && !run.Deadlock, run.Describe());
        Assert.True(run.Schedule == schedule, $"the schedule ran as {run.Schedule}, not {schedule}:\n{run.Describe()}");
        world.LastAccess = outcome[0];
    }

    [Given("vCPU {int} has set {gpte_flags} in the {entry} for gva {gva}")]
    [When("vCPU {int} sets {gpte_flags} in the {entry} for gva {gva}")]
    public void SetsFlags(int vcpu, GpteFlags flags, int level, ulong gva) => StoreEntry(vcpu, level, gva, old => old | flags.Mask);

    [Given("vCPU {int} has cleared {gpte_flags} in the {entry} for gva {gva}")]
    [When("vCPU {int} clears {gpte_flags} in the {entry} for gva {gva}")]
    public void ClearsFlags(int vcpu, GpteFlags flags, int level, ulong gva) => StoreEntry(vcpu, level, gva, old => old & ~flags.Mask);

    [Given("vCPU {int} has rewritten the {entry} for gva {gva} unchanged")]
    [When("vCPU {int} rewrites the {entry} for gva {gva} unchanged")]
    public void Rewrites(int vcpu, int level, ulong gva) => StoreEntry(vcpu, level, gva, old => old);

    [When("vCPU {int} points the {entry} for gva {gva} at gpa {gpa}")]
    public void Repoints(int vcpu, int level, ulong gva, ulong gpa) =>
        StoreEntry(vcpu, level, gva, old => (old & ~GuestPte4K.PageAddrMask) | (gpa & GuestPte4K.PageAddrMask));

    [When("the host munmaps the page of the {entry} table for gva {gva}")]
    public void MunmapTable(int level, ulong gva)
    {
        var gfn = TableGfn(level, gva);
        var (start, end) = world.UserPages(gfn, gfn + 1);
        Kvm.Munmap(start, end);
    }

    [When("vCPU {int} executes INVLPG for gva {gva}")]
    public void Invlpg(int vcpu, ulong gva) => Shadow.Invlpg(world.Vcpu(vcpu), gva);

    [When("vCPU {int} flushes its TLB")]
    public void FlushTlb(int vcpu) => Shadow.FlushTlbGuest(world.Vcpu(vcpu));

    [When("vCPU {int} reloads CR3")]
    public void ReloadCr3(int vcpu) => Shadow.LoadCr3(world.Vcpu(vcpu), world.Vcpu(vcpu).Cpu.Cr3);

    [When("vCPU {int} sets {cpu_bits} in its control registers")]
    public void SetsControlRegisters(int vcpu, CpuBits bits) =>
        Shadow.SetControlRegisters(world.Vcpu(vcpu), bits.ApplyTo(world.Vcpu(vcpu).Cpu));

    [Then("the access completes without a fault into KVM")]
    public void CompletesWithoutExit() => CompletesAfter(0);

    [Then("the access completes after {int} fault(s) into KVM")]
    public void CompletesAfter(int exits)
    {
        Assert.True(Last.PageFault is null && Last.Exit is null, $"the {Last.Access} to 0x{Last.Address:x} came to {(Last.PageFault?.ToString() ?? Last.Exit)}");
        Assert.True(exits == Last.KvmPageFaults, $"the {Last.Access} to 0x{Last.Address:x} faulted into KVM {Last.KvmPageFaults} time(s), not {exits}");
    }

    [Then("the access reads the value last stored")]
    public void ReadsLastStore()
    {
        Assert.True(Last.PageFault is null, $"the {Last.Access} to 0x{Last.Address:x} took {Last.PageFault}");
        Assert.Equal(FaultSteps.Hex(_nextValue - 1), FaultSteps.Hex(Last.Value));
    }

    [Then("the guest takes a #PF with error code {}")]
    public void TakesPageFault(string errorCode)
    {
        Assert.True(Last.PageFault is not null, $"the {Last.Access} to 0x{Last.Address:x} came to {Last.Outcome}");
        Assert.Equal(errorCode, PfErrorCode.Describe(Last.PageFault.Value.ErrorCode));
    }

    [Then("vCPU {int} has taken {int} #PF(s)")]
    public void HasTakenPageFaults(int vcpu, int count) => Assert.Equal(count, world.Vcpu(vcpu).PageFaults.Count);

    [Then("the SPTE for gva {gva} is {}")]
    public void SpteIs(ulong gva, string expected) => Assert.Equal(expected, Shadow.Describe(LeafSpte(gva)));

    [Then("the direct-map SPTE for the {entry} table of gva {gva} is {}")]
    public void DirectMapSpteIs(int level, ulong gva, string expected) =>
        Assert.Equal(expected, Shadow.Describe(LeafSpte(DirectMapOfTable(level, gva))));

    [Then("the {entry} for gva {gva} has {gpte_flags} set")]
    public void GpteHas(int level, ulong gva, GpteFlags flags)
    {
        var gpte = Guest.Gpte(gva, level);
        Assert.True((gpte & flags.Mask) == flags.Mask, $"the {GuestWalker.LevelName(level)} for 0x{gva:x} is {ShadowMmu.DescribeGpte(gpte)}");
    }

    [Given("the shadow page of the {entry} table for gva {gva} is {sync_state}")]
    [Then("the shadow page of the {entry} table for gva {gva} is {sync_state}")]
    public void PageState(int level, ulong gva, bool unsync)
    {
        var sp = Assert.Single(Shadow.PagesWithGptes(TableGfn(level, gva)));
        Assert.Equal(unsync, sp.Unsync);
    }

    [Then("the {entry} table for gva {gva} is shadowed by {int} page(s)")]
    public void ShadowedBy(int level, ulong gva, int count) => Assert.Equal(count, Shadow.PagesWithGptes(TableGfn(level, gva)).Count());

    [Then("the {entry} table for gva {gva} is {tracking}")]
    public void TableTracking(int level, ulong gva, bool tracked) => Assert.Equal(tracked, Shadow.IsWriteTracked(TableGfn(level, gva)));

    [Then("the {entry} table for gva {gva} is reported dirty by the fetch")]
    public void TableReportedDirty(int level, ulong gva)
    {
        var (baseGfn, bitmap) = world.Model.LastFetch ?? throw new InvalidOperationException("nothing was fetched: 'When the dirty log of memslot n is fetched'");
        var gfn = TableGfn(level, gva);
        Assert.True(Kvm.Gfns(baseGfn, bitmap.Words).Contains(gfn), $"the {GuestWalker.LevelName(level)} table of 0x{gva:x} (gfn 0x{gfn:x}) is not in the fetch: {Kvm.DirtyRanges(baseGfn, bitmap.Words)}");
    }

    private void StoreEntry(int vcpu, int level, ulong gva, Func<ulong, ulong> change)
    {
        world.LastAccess = Guest.WriteGpte(world.Vcpu(vcpu), gva, level, change(Guest.Gpte(gva, level)));
        Assert.True(world.LastAccess.Completed, $"vCPU {vcpu}'s store to its {GuestWalker.LevelName(level)} for 0x{gva:x} came to {(world.LastAccess.PageFault?.ToString() ?? world.LastAccess.Exit ?? world.LastAccess.Outcome.ToString())}");
    }

    /// <summary>The gfn of the guest table that holds the entry at <paramref name="level"/> for <paramref name="gva"/>.</summary>
    private ulong TableGfn(int level, ulong gva) => Guest.Tables.EntryGpa(gva, level) >> GuestWalker.PageShift;

    /// <summary>Where the guest's direct map maps the table that holds the entry at <paramref name="level"/> for <paramref name="gva"/>.</summary>
    private ulong DirectMapOfTable(int level, ulong gva) => GuestKernel.DirectMap(TableGfn(level, gva) << GuestWalker.PageShift);

    /// <summary>The leaf SPTE for <paramref name="gva"/> under vCPU 0's root.</summary>
    private ulong LeafSpte(ulong gva)
    {
        var sp = world.Vcpu(0).ShadowMmu?.Root ?? throw new InvalidOperationException("vCPU 0 has no root");
        var vpn = gva >> GuestWalker.PageShift;
        while (true)
        {
            var spte = sp.Spt[GuestWalker.SpteIndex(vpn, sp.Role.Level)];
            if (!Mmu.X86.SpteMasks.IsShadowPresent(spte) || Mmu.X86.SpteMasks.IsLast(spte, sp.Role.Level))
            {
                return spte;
            }

            sp = Shadow.ChildOf(spte);
        }
    }
}
