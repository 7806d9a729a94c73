using System.Globalization;
using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;

namespace SpecKit.Behaviour.Steps;

/// <summary>The VM a scenario runs, under one model's policy; shared by the step classes of a scenario.</summary>
public sealed class KvmWorld(ModelSwitch models) : IScenarioState
{
    private Kvm? _kvm;

    public Kvm Kvm => _kvm ?? throw new InvalidOperationException("no VM yet: start the scenario with 'Given a VM ...'");

    /// <summary>The VM, or null in scenarios that never made one.</summary>
    public Kvm? Current => _kvm;

    public ulong[]? LastFetch { get; set; }

    /// <summary>What the last step that calls kvm_tdp_page_fault() itself returned; accesses through Kvm.Access do not set it.</summary>
    public PageFaultResult? LastFault { get; set; }

    public void Create(string model, int vcpus, int ring = 0, KvmVmType vmType = KvmVmType.Default)
    {
        _kvm = new Kvm(SpecModels.Named(models.Resolve(model)).Rules, vmType);
        if (ring > 0)
        {
            Assert.Equal(0, _kvm.EnableDirtyRing(ring));
        }

        for (var i = 0; i < vcpus; i++)
        {
            _kvm.CreateVcpu();
        }
    }

    /// <summary>For a failure report: the SPTE tree, the end of the log, and the unclaimed checker reports.</summary>
    public string? DescribeState() =>
        _kvm is { } kvm ? ModelState.Describe(kvm.Rules.Model, "the SPTE tree", kvm.DescribeSptes(), kvm.Log, kvm.Violations) : null;
}

/// <summary>Steps that build a VM, run vCPUs, and drive the primary MMU, notifiers and dirty log.</summary>
[Binding]
public sealed class KvmSteps(KvmWorld world, ScenarioContext context)
{
    private Kvm Kvm => world.Kvm;

    [Given("a VM with {int} vCPU(s)")]
    public void AVm(int vcpus) => world.Create("base", vcpus);

    [Given("a VM under the {model} model with {int} vCPU(s)")]
    public void AVmUnder(string model, int vcpus) => world.Create(model, vcpus);

    [Given("a VM under the {model} model with {int} vCPU(s) and a dirty ring of {int} entries")]
    public void AVmWithRing(string model, int vcpus, int entries) => world.Create(model, vcpus, entries);

    [Given("eager page splitting is off")]
    public void NoEagerSplit() => Kvm.EagerPageSplit = false;

    [When("the host munmaps gfns [{gfn}, {gfn})")]
    public void Munmap(ulong start, ulong end) => Kvm.Munmap(start, end);

    [Then("vCPU {int} exited to userspace with {word}")]
    public void ExitedWith(int vcpu, string exit) => Assert.Equal(exit, Kvm.Vcpus[vcpu].LastExit);

    [Then("the dirty ring of vCPU {int} is soft-full")]
    public void RingSoftFull(int vcpu) => Assert.True(Kvm.RingOf(Kvm.Vcpus[vcpu]).SoftFull);

    [When("memslot {int} is deleted")]
    public void DeleteSlot(int id) => Kvm.DeleteMemslot(id);

    [When("memslot {int} is moved to gfn {gfn}")]
    public void MoveSlot(int id, ulong gfn) => Kvm.MoveMemslot(id, gfn);

    [When("the process's mm is released")]
    public void Release() => Kvm.Release();

    [Then("no SPTE is present")]
    public void NoSptes() => Assert.Equal("(no present SPTEs)", Kvm.DescribeSptes());

    [When("dirty logging is disabled on memslot {int}")]
    public void DisableLogging(int id) => Kvm.SetMemslotFlags(id, Kvm.Slot(id).Flags & ~MemslotFlags.LogDirtyPages);

    [When("vCPU {int} takes an EPT violation on gfn {gfn} for a {access} that vCPU {int} has already fixed")]
    public void SpuriousFault(int vcpu, ulong gfn, AccessKind access, int other)
    {
        Assert.Equal(PageFaultResult.Fixed, Kvm.PageFault(Kvm.Vcpus[other], gfn, access));
        world.LastFault = Kvm.PageFault(Kvm.Vcpus[vcpu], gfn, access);
    }

    [Then("the fault returns {word}")]
    public void FaultReturns(string result) => Assert.Equal(
        result,
        "RET_PF_" + (world.LastFault ?? throw new InvalidOperationException("no step has taken a fault whose RET_PF_* value it keeps: only 'vCPU n takes an EPT violation on gfn ... that vCPU m has already fixed' does")).ToString().ToUpperInvariant());

    [Given("manual dirty-log protection is enabled")]
    public void ManualProtect() => Assert.Equal(0, Kvm.EnableManualDirtyLogProtect(ManualProtectFlags.Enable));

    [Given("manual dirty-log protection is enabled with INITIALLY_SET")]
    public void ManualProtectInitiallySet() => Assert.Equal(0, Kvm.EnableManualDirtyLogProtect(ManualProtectFlags.Enable | ManualProtectFlags.InitiallySet));

    [When("the dirty log of memslot {int} is fetched and cleared")]
    [When("the dirty log of memslot {int} is fetched and cleared again")]
    public void FetchAndClear(int id)
    {
        world.LastFetch = Kvm.GetDirtyLog(id);
        Assert.Equal(0, Kvm.ClearDirtyLog(id, 0, Kvm.Slot(id).Npages, world.LastFetch));
    }

    [Then("KVM_CLEAR_DIRTY_LOG on memslot {int} from page {int} for {int} pages returns {int}")]
    public void ClearReturns(int id, ulong first, ulong count, int expected) =>
        Assert.Equal(expected, Kvm.ClearDirtyLog(id, first, count, new ulong[(count + 63) / 64 + 1]));

    [When("the dirty rings are collected and reset")]
    [When("the dirty rings are collected and reset again")]
    public void CollectAndReset()
    {
        var gfns = Kvm.CollectDirtyRings();
        var bitmap = new ulong[Kvm.Memslots[0].DirtyBitmap.Length];
        foreach (var gfn in gfns)
        {
            var rel = gfn - Kvm.Memslots[0].BaseGfn;
            bitmap[rel / 64] |= 1UL << (int)(rel % 64);
        }

        world.LastFetch = bitmap;
        Assert.Equal(gfns.Count, Kvm.ResetDirtyRings());
    }

    [Given("memslot {int} maps {int} pages at gfn {gfn} with {level} host pages")]
    [When("memslot {int} maps {int} pages at gfn {gfn} with {level} host pages")]
    public void AMemslot(int id, int pages, ulong gfn, int hostLevel) => Kvm.CreateMemslot(id, gfn, (ulong)pages, MemslotFlags.None, hostLevel);

    [Given("dirty logging is enabled on memslot {int}")]
    [When("dirty logging is enabled on memslot {int}")]
    public void EnableLogging(int id) => Kvm.SetMemslotFlags(id, Kvm.Slot(id).Flags | MemslotFlags.LogDirtyPages);

    [Given("vCPU {int} has read gfn {gfn}")]
    [When("vCPU {int} reads gfn {gfn}")]
    public void Reads(int vcpu, ulong gfn) => Kvm.Access(Kvm.Vcpus[vcpu], gfn, AccessKind.Read);

    [Given("vCPU {int} has written gfn {gfn}")]
    [When("vCPU {int} writes gfn {gfn}")]
    public void Writes(int vcpu, ulong gfn) => Kvm.Access(Kvm.Vcpus[vcpu], gfn, AccessKind.Write);

    [When("vCPU {int} writes gfns {}")]
    public void WritesMany(int vcpu, string gfns)
    {
        foreach (var gfn in gfns.Split(", ").Select(HexParameterTypes.Gfn))
        {
            Kvm.Access(Kvm.Vcpus[vcpu], gfn, AccessKind.Write);
        }
    }

    [When("all vCPUs are resumed")]
    public void ResumeAll()
    {
        foreach (var vcpu in Kvm.Vcpus)
        {
            vcpu.Paused = false;
        }

        Kvm.Log.Add("all vCPUs resumed");
    }

    [When("all vCPUs are paused")]
    public void PauseAll()
    {
        foreach (var vcpu in Kvm.Vcpus)
        {
            vcpu.Paused = true;
        }

        Kvm.Log.Add("all vCPUs paused");
    }

    [When("the dirty log of memslot {int} is fetched")]
    [When("the dirty log of memslot {int} is fetched again")]
    public void Fetch(int id) => world.LastFetch = Kvm.GetDirtyLog(id);

    [Then("the fetch reports {}")]
    public void FetchReports(string ranges) =>
        Assert.Equal(ranges, Kvm.DirtyRanges(Kvm.Memslots[0].BaseGfn, world.LastFetch ?? throw new InvalidOperationException("nothing was fetched")));

    [When("KSM merges the page behind gfn {gfn}")]
    public void KsmMerge(ulong gfn) => Kvm.KsmMerge(gfn);

    [When("the host migrates the page behind gfn {gfn}")]
    public void Migrate(ulong gfn) => Kvm.Migrate(gfn);

    [When("the host migrates the page behind gfn {gfn} while vCPU {int} faults on it for a {access}")]
    public void MigrateDuringFault(ulong gfn, int vcpu, AccessKind access)
    {
        Kvm.BeforeFaultTakesLock.Enqueue(() => Kvm.Migrate(gfn));
        Kvm.Access(Kvm.Vcpus[vcpu], gfn, access);
    }

    [When("the primary MMU ages gfns [{gfn}, {gfn}) with {word}")]
    public void Age(ulong start, ulong end, string notifier) => Kvm.Age(start, end, notifier);

    [When("the host swaps out gfns [{gfn}, {gfn}) with mmu_lock contended at gfn {gfn}, while vCPU {int} reads gfn {gfn}")]
    public void SwapOutContended(ulong start, ulong end, ulong contendedAt, int vcpu, ulong readGfn)
    {
        Kvm.Contention.At(contendedAt);
        Kvm.WhileUnlocked.Enqueue(() => Kvm.Access(Kvm.Vcpus[vcpu], readGfn, AccessKind.Read));
        Kvm.SwapOut(start, end);
    }

    [Then("the SPTE for gfn {gfn} maps the host page behind it, {writability}")]
    public void SpteMapsHostPage(ulong gfn, bool writable)
    {
        var leaf = Kvm.Mmu.LeafFor(gfn) ?? throw new Xunit.Sdk.XunitException($"gfn 0x{gfn:x} has no SPTE");
        var host = Kvm.Host.Lookup(gfn) ?? throw new Xunit.Sdk.XunitException($"gfn 0x{gfn:x} has no host page");
        Assert.Equal(host.Pfn, TdpWalker.SpteToPfn(leaf.Spte) + (gfn & (TdpWalker.PagesPerHpage(leaf.Level) - 1)));
        Assert.Equal(writable, new EptSpte(leaf.Spte).Writable);
    }

    [Then("gfn {gfn} has no SPTE")]
    public void NoSpte(ulong gfn) => Assert.Null(Kvm.Mmu.LeafFor(gfn));

    [Then("no page was marked accessed")]
    public void NoPageAccessed() => Assert.Empty(Kvm.PagesMarkedAccessed);

    [Then("the checker reports {string}")]
    public void CheckerReports(string rule)
    {
        var found = Kvm.Violations.Where(v => v.Rule == rule).ToList();
        Assert.True(found.Count > 0, $"expected the checker to report '{rule}'; it reported: {(Kvm.Violations.Count == 0 ? "nothing" : string.Join("; ", Kvm.Violations))}");
        Kvm.Violations.RemoveAll(v => v.Rule == rule);
    }

    [Then("the checker reports nothing")]
    public void CheckerReportsNothing() => Assert.True(Kvm.Violations.Count == 0, "the checker reported: " + string.Join("; ", Kvm.Violations));

    [Then("the SPTE tree matches the snapshot")]
    public void SpteTreeSnapshot() => context.Verify(Kvm.DescribeSptes(), "sptes");

    [Then("the log matches the snapshot")]
    public void LogSnapshot() => context.Verify(string.Join("\n", Kvm.Log), "log");

    /// <summary>Invariants hold at the end of every scenario unless a step claimed the breach it expected.</summary>
    [AfterScenario]
    public void NoUnclaimedViolations()
    {
        if (world.Current is { } kvm)
        {
            kvm.CheckInvariants("the scenario");
            Assert.True(kvm.Violations.Count == 0, $"the checker reported {kvm.Violations.Count} breach(es) that no step claimed: see the log in the state below");
        }
    }

    internal static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
