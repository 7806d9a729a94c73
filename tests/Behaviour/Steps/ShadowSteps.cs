using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Shadow;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// The shadow-paging VM a scenario runs. The guest maps its pages, then boots on first use:
/// it maps its page tables in its direct map (so that it can store to them) and its vCPUs start
/// with the CPU state the scenario gave.
/// </summary>
public sealed class ShadowWorld(ModelSwitch models) : IScenarioState
{
    private ShadowVm? _vm;
    private int _vcpus;

    public ShadowVm Vm => _vm ?? throw new InvalidOperationException("no shadow VM yet: start with 'Given a shadow-paging VM ...'");

    public ShadowVm? Current => _vm;

    /// <summary>The CPU state the vCPUs boot with: a 64-bit Linux guest's CR0.WP and EFER.NX unless a step says otherwise.</summary>
    public GuestCpuState BootCpu { get; set; } = new() { Cr0Wp = true, EferNx = true };

    public ShadowAccessResult? Last { get; set; }

    public bool Booted => Current is { } vm && vm.Vcpus.Count > 0;

    public void Create(string model, int vcpus)
    {
        _vm = new ShadowVm(SpecModels.Named(models.Resolve(model)).Rules);
        _vcpus = vcpus;
    }

    public ShadowVcpu Vcpu(int id)
    {
        if (!Booted)
        {
            Vm.MapDirectMapAtBoot();
            for (var i = 0; i < _vcpus; i++)
            {
                Vm.CreateVcpu(BootCpu);
            }
        }

        return id < Vm.Vcpus.Count ? Vm.Vcpus[id] : throw new ArgumentOutOfRangeException(nameof(id), $"the VM has {Vm.Vcpus.Count} vCPUs");
    }

    /// <summary>For a failure report: the shadow pages, the end of the log, and the unclaimed checker reports.</summary>
    public string? DescribeState() =>
        _vm is { } vm ? ModelState.Describe(vm.Rules.Model, "the shadow pages", vm.DescribeShadowPages(), vm.Log, vm.Violations) : null;
}

/// <summary>
/// Steps for shadow paging: the guest's mappings and CPU state, guest accesses and stores to its
/// page tables, INVLPG, TLB flushes and CR writes, and what KVM's shadow pages and log show.
/// </summary>
[Binding]
public sealed class ShadowSteps(ShadowWorld world, ScenarioContext context)
{
    /// <summary>The value a guest store writes: distinct per store, so a snapshot shows which one landed.</summary>
    private ulong _nextValue = 0x1000;

    private ShadowVm Vm => world.Vm;

    private ShadowAccessResult Last => world.Last ?? throw new InvalidOperationException("no access yet: 'When vCPU 0 makes a user read to gva ...'");

    [Given("a shadow-paging VM with {int} vCPU(s)")]
    public void AVm(int vcpus) => world.Create("base", vcpus);

    [Given("a shadow-paging VM under the {model} model with {int} vCPU(s)")]
    public void AVmUnder(string model, int vcpus) => world.Create(model, vcpus);

    [Given("the guest's vCPUs boot with {}")]
    public void BootWith(string assignments)
    {
        Assert.False(world.Booted, "the vCPUs have booted already: change CR0/CR4 with 'vCPU n sets ...'");
        world.BootCpu = WithCpuBits(world.BootCpu, assignments);
    }

    [Given("the guest maps gva {gva} to gpa {gpa} with PTE flags {}")]
    public void Maps(ulong gva, ulong gpa, string flags)
    {
        const ulong table = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask | GuestPteNonLeaf.UserMask | GuestPteNonLeaf.AccessedMask;
        Vm.MapAtBoot(gva, gpa, table, table, table, ParseFlags(flags));
    }

    [Given("the guest maps gva {gva} to gpa {gpa} with PDPTE flags {} and PTE flags {}")]
    public void MapsWithPdpte(ulong gva, ulong gpa, string pdpte, string pte)
    {
        const ulong table = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask | GuestPteNonLeaf.UserMask | GuestPteNonLeaf.AccessedMask;
        Vm.MapAtBoot(gva, gpa, table, ParseFlags(pdpte), table, ParseFlags(pte));
    }

    [Given("the guest points the PDPTE for gva {gva} at the page directory of gva {gva}, with flags {}")]
    public void SharesPageDirectory(ulong gva, ulong other, string flags) =>
        Vm.LinkAtBoot(gva, GuestWalker.PdpteLevel, Vm.Tables.EntryGpa(other, GuestWalker.PdeLevel) & ~0xfffUL, ParseFlags(flags));

    [Given("vCPU {int} has made a(n) {guest_access} to gva {gva}")]
    [When("vCPU {int} makes a(n) {guest_access} to gva {gva}")]
    public void Accesses(int vcpu, GuestAccess access, ulong gva) =>
        world.Last = Vm.Access(world.Vcpu(vcpu), gva, access, access.Kind == GuestAccessKind.Write ? _nextValue++ : 0);

    [When("vCPU {int} makes a(n) {guest_access} to the {word} table of gva {gva} through the direct map")]
    public void AccessesTable(int vcpu, GuestAccess access, string entry, ulong gva) =>
        Accesses(vcpu, access, DirectMapOfTable(entry, gva));

    [When("vCPU {int} makes a(n) {guest_access} to gva {gva}, and before KVM injects the #PF vCPU {int} sets {} in the {word} for gva {gva}")]
    public void AccessRacingStore(int vcpu, GuestAccess access, ulong gva, int other, string flags, string entry, ulong target)
    {
        Vm.BeforeInjectingPageFault.Enqueue(() => SetsFlags(other, flags, entry, target));
        Accesses(vcpu, access, gva);
        Assert.True(Vm.BeforeInjectingPageFault.Count == 0, $"vCPU {vcpu}'s {access} to 0x{gva:x} did not fault in the guest's tables, so no #PF was injected");
    }

    [Given("vCPU {int} has set {} in the {word} for gva {gva}")]
    [When("vCPU {int} sets {} in the {word} for gva {gva}")]
    public void SetsFlags(int vcpu, string flags, string entry, ulong gva) => StoreEntry(vcpu, entry, gva, old => old | ParseFlags(flags));

    [Given("vCPU {int} has cleared {} in the {word} for gva {gva}")]
    [When("vCPU {int} clears {} in the {word} for gva {gva}")]
    public void ClearsFlags(int vcpu, string flags, string entry, ulong gva) => StoreEntry(vcpu, entry, gva, old => old & ~ParseFlags(flags));

    [Given("vCPU {int} has rewritten the {word} for gva {gva} unchanged")]
    [When("vCPU {int} rewrites the {word} for gva {gva} unchanged")]
    public void Rewrites(int vcpu, string entry, ulong gva) => StoreEntry(vcpu, entry, gva, old => old);

    [When("vCPU {int} executes INVLPG for gva {gva}")]
    public void Invlpg(int vcpu, ulong gva) => Vm.Invlpg(world.Vcpu(vcpu), gva);

    [When("vCPU {int} flushes its TLB")]
    public void FlushTlb(int vcpu) => Vm.FlushTlbGuest(world.Vcpu(vcpu));

    [When("vCPU {int} reloads CR3")]
    public void ReloadCr3(int vcpu) => Vm.LoadCr3(world.Vcpu(vcpu), world.Vcpu(vcpu).Cpu.Cr3);

    [When("vCPU {int} sets {} in its control registers")]
    public void SetsControlRegisters(int vcpu, string assignments) =>
        Vm.SetControlRegisters(world.Vcpu(vcpu), WithCpuBits(world.Vcpu(vcpu).Cpu, assignments));

    [Then("the access completes without a fault into KVM")]
    public void CompletesWithoutExit() => CompletesAfter(0);

    [Then("the access completes after {int} fault(s) into KVM")]
    public void CompletesAfter(int exits)
    {
        Assert.True(Last.PageFault is null, $"the {Last.Access} to 0x{Last.Gva:x} took {Last.PageFault}\n{Vm.DescribeLog()}");
        Assert.True(exits == Last.KvmPageFaults, $"the {Last.Access} to 0x{Last.Gva:x} faulted into KVM {Last.KvmPageFaults} time(s), not {exits}\n{Vm.DescribeLog()}");
    }

    [Then("the access reads the value last stored")]
    public void ReadsLastStore()
    {
        Assert.True(Last.PageFault is null, $"the {Last.Access} to 0x{Last.Gva:x} took {Last.PageFault}");
        Assert.Equal(_nextValue - 1, Last.Value);
    }

    [Then("the guest takes a #PF with error code {}")]
    public void TakesPageFault(string errorCode)
    {
        Assert.True(Last.PageFault is not null, $"the {Last.Access} to 0x{Last.Gva:x} completed\n{Vm.DescribeLog()}");
        Assert.Equal(errorCode, PfErrorCode.Describe(Last.PageFault.Value.ErrorCode));
    }

    [Then("vCPU {int} has taken {int} #PF(s)")]
    public void HasTakenPageFaults(int vcpu, int count) => Assert.Equal(count, world.Vcpu(vcpu).PageFaults.Count);

    [Then("the SPTE for gva {gva} is {}")]
    public void SpteIs(ulong gva, string expected) => Assert.Equal(expected, Spte.Describe(LeafSpte(gva)));

    [Then("the direct-map SPTE for the {word} table of gva {gva} is {}")]
    public void DirectMapSpteIs(string entry, ulong gva, string expected) =>
        Assert.Equal(expected, Spte.Describe(LeafSpte(DirectMapOfTable(entry, gva))));

    [Then("the {word} for gva {gva} has {} set")]
    public void GpteHas(string entry, ulong gva, string flags)
    {
        var gpte = Vm.Gpte(gva, Level(entry));
        var mask = ParseFlags(flags);
        Assert.True((gpte & mask) == mask, $"the {entry} for 0x{gva:x} is {Spte.DescribeGpte(gpte)}");
    }

    [Given("the shadow page of the {word} table for gva {gva} is {sync_state}")]
    [Then("the shadow page of the {word} table for gva {gva} is {sync_state}")]
    public void PageState(string entry, ulong gva, string state)
    {
        var sp = Assert.Single(Vm.Mmu.PagesWithGptes(Vm.Tables.EntryGpa(gva, Level(entry)) >> GuestWalker.PageShift));
        Assert.Equal(state == "unsync", sp.Unsync);
    }

    [Then("the {word} table for gva {gva} is shadowed by {int} page(s)")]
    public void ShadowedBy(string entry, ulong gva, int count) =>
        Assert.Equal(count, Vm.Mmu.PagesWithGptes(Vm.Tables.EntryGpa(gva, Level(entry)) >> GuestWalker.PageShift).Count());

    [Then("the {word} table for gva {gva} is {tracking}")]
    public void TableTracking(string entry, ulong gva, string state)
    {
        var gfn = Vm.Tables.EntryGpa(gva, Level(entry)) >> GuestWalker.PageShift;
        Assert.Equal(state == "write-tracked", Vm.Mmu.IsWriteTracked(gfn));
    }

    [Then("the shadow pages match the snapshot")]
    public void ShadowPagesSnapshot() => context.Verify(Vm.DescribeShadowPages(), "shadow-pages");

    [Then("the shadow log matches the snapshot")]
    public void LogSnapshot() => context.Verify(Vm.DescribeLog(), "log");

    [Then("the shadow checker reports {string}")]
    public void CheckerReports(string rule)
    {
        var found = Vm.Violations.Where(v => v.Rule == rule).ToList();
        Assert.True(found.Count > 0, $"expected the shadow checker to report '{rule}'; it reported: {(Vm.Violations.Count == 0 ? "nothing" : string.Join("; ", Vm.Violations))}");
        Vm.Violations.RemoveAll(v => v.Rule == rule);
    }

    [Then("the shadow checker reports nothing")]
    public void CheckerReportsNothing() => Assert.True(Vm.Violations.Count == 0, "the shadow checker reported: " + string.Join("; ", Vm.Violations));

    /// <summary>The shadow MMU's invariants hold at the end of every scenario unless a step claimed the breach it expected.</summary>
    [AfterScenario]
    public void NoUnclaimedViolations()
    {
        if (world.Current is { } vm)
        {
            vm.CheckInvariants("the scenario");
            Assert.True(vm.Violations.Count == 0, $"the shadow checker reported {vm.Violations.Count} breach(es) that no step claimed: see the log in the state below");
        }
    }

    private void StoreEntry(int vcpu, string entry, ulong gva, Func<ulong, ulong> change)
    {
        var level = Level(entry);
        world.Last = Vm.WriteGpte(world.Vcpu(vcpu), gva, level, change(Vm.Gpte(gva, level)));
        Assert.True(world.Last.PageFault is null, $"vCPU {vcpu}'s store to its {entry} for 0x{gva:x} took {world.Last.PageFault}");
    }

    /// <summary>Where the guest's direct map maps the table that holds the <paramref name="entry"/> for <paramref name="gva"/>.</summary>
    private ulong DirectMapOfTable(string entry, ulong gva) => ShadowVm.DirectMap(Vm.Tables.EntryGpa(gva, Level(entry)) & ~0xfffUL);

    /// <summary>The leaf SPTE for <paramref name="gva"/> under vCPU 0's root.</summary>
    private ulong LeafSpte(ulong gva)
    {
        var sp = world.Vcpu(0).Root ?? throw new InvalidOperationException("vCPU 0 has no root");
        var vpn = gva >> GuestWalker.PageShift;
        while (true)
        {
            var spte = sp.Spt[GuestWalker.SpteIndex(vpn, sp.Role.Level)];
            if (!Spte.IsShadowPresent(spte) || Spte.IsLast(spte, sp.Role.Level))
            {
                return spte;
            }

            sp = Vm.Mmu.ChildOf(spte);
        }
    }

    /// <summary>"Pte", "Pde", "Pdpte" or "Pml4e": the level as GuestWalker names it.</summary>
    private static int Level(string entry) =>
        Enumerable.Range(1, GuestWalker.Pml4eLevel).FirstOrDefault(l => string.Equals(GuestWalker.LevelName(l), entry, StringComparison.OrdinalIgnoreCase)) is var level and > 0
            ? level
            : throw new FormatException($"'{entry}' is not an entry; write PTE, PDE, PDPTE or PML4E");

    /// <summary>"P W U A D NX": gPTE flags.</summary>
    private static ulong ParseFlags(string flags) =>
        flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Aggregate(0UL, (all, flag) => all | flag switch
        {
            "P" => GuestPte4K.PresentMask,
            "W" => GuestPte4K.WritableMask,
            "U" => GuestPte4K.UserMask,
            "A" => GuestPte4K.AccessedMask,
            "D" => GuestPte4K.DirtyMask,
            "NX" => GuestPte4K.NxMask,
            _ => throw new FormatException($"'{flag}' is not a gPTE flag; write P, W, U, A, D or NX"),
        });

    /// <summary>"CR0.WP=0, CR4.SMEP=1": control-register bits.</summary>
    private static GuestCpuState WithCpuBits(GuestCpuState cpu, string assignments)
    {
        foreach (var assignment in assignments.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = assignment.Split('=', 2);
            var on = parts.Length == 2 && parts[1] == "1" ? true
                : parts.Length == 2 && parts[1] == "0" ? false
                : throw new FormatException($"'{assignment}' is not NAME=0 or NAME=1");
            cpu = parts[0] switch
            {
                "CR0.WP" => cpu with { Cr0Wp = on },
                "CR4.SMEP" => cpu with { Cr4Smep = on },
                "CR4.SMAP" => cpu with { Cr4Smap = on },
                "EFER.NX" => cpu with { EferNx = on },
                "EFLAGS.AC" => cpu with { EflagsAc = on },
                _ => throw new FormatException($"'{parts[0]}' is not a control bit here; write CR0.WP, CR4.SMEP, CR4.SMAP, EFER.NX or EFLAGS.AC"),
            };
        }

        return cpu;
    }
}
