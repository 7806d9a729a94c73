using SpecKit.Features;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Steps for what every VM has, whatever its MMU: making it, its memslots, its vCPUs touching
/// guest frames, the host's events through the MMU notifier, and the checker and snapshots.
/// </summary>
[Binding]
public sealed class VmSteps(VmWorld world, ScenarioContext context)
{
    private Kvm Kvm => world.Kvm;

    [Given("a VM with {int} vCPU(s)")]
    public void AVm(int vcpus) => world.Create(ModelSwitch.BaseModel, vcpus);

    [Given("a VM with {int} vCPU(s) on {mmu}")]
    public void AVmOn(int vcpus, MmuKind mmu) => world.Create(ModelSwitch.BaseModel, vcpus, mmu);

    [Given("a VM under the {model} model with {int} vCPU(s)")]
    public void AVmUnder(string model, int vcpus) => world.Create(model, vcpus);

    [Given("a VM under the {model} model with {int} vCPU(s) on {mmu}")]
    public void AVmUnderOn(string model, int vcpus, MmuKind mmu) => world.Create(model, vcpus, mmu);

    [Given("a VM under the {model} model with {int} vCPU(s) and a dirty ring of {int} entries")]
    public void AVmWithRing(string model, int vcpus, int entries) => world.Create(model, vcpus, ringEntries: entries);

    [Given("a VM under the {model} model with {int} vCPU(s) on {mmu} and a dirty ring of {int} entries")]
    public void AVmOnWithRing(string model, int vcpus, MmuKind mmu, int entries) => world.Create(model, vcpus, mmu, entries);

    [Given("eager page splitting is off")]
    public void NoEagerSplit() => Kvm.EagerPageSplit = false;

    [Given("the KVM_X86_QUIRK_SLOT_ZAP_ALL quirk is disabled")]
    public void DisableSlotZapAll() => Expect("0", b => b.Vm.EnableCap(KvmCap.DisableQuirks2, (ulong)KvmX86Quirks.SlotZapAll));

    [Given("memslot {int} maps {int} pages at gfn {gfn} with {level} host pages")]
    [When("memslot {int} maps {int} pages at gfn {gfn} with {level} host pages")]
    public void AMemslot(int id, int pages, ulong gfn, int hostLevel) => Created(id, (ulong)pages, gfn, MemoryRegionFlags.None, hostLevel);

    [Given("read-only memslot {int} maps {int} pages at gfn {gfn} with {level} host pages")]
    public void AReadOnlyMemslot(int id, int pages, ulong gfn, int hostLevel) => Created(id, (ulong)pages, gfn, MemoryRegionFlags.ReadOnly, hostLevel);

    [Given("memslot {int} maps {int} pages at gfn {gfn} over the user pages of memslot {int}")]
    [When("memslot {int} maps {int} pages at gfn {gfn} over the user pages of memslot {int}")]
    public void AnAlias(int id, int pages, ulong gfn, int other) =>
        Expect("0", b => b.Set(new UserspaceMemoryRegion(Slot(id), MemoryRegionFlags.None, gfn << 12, (ulong)pages << 12, b.Region(other).UserspaceAddr)));

    [When("memslot {int} is made again at gfn {gfn} over its old user pages")]
    public void Recreate(int id, ulong gfn) =>
        Expect("0", b => b.Set(b.Region(id) with { Flags = MemoryRegionFlags.None, GuestPhysAddr = gfn << 12 }));

    [When("memslot {int} is deleted")]
    public void DeleteSlot(int id) => Expect("0", b => b.Set(UserspaceMemoryRegion.Delete(Slot(id))));

    [When("memslot {int} is moved to gfn {gfn}")]
    public void MoveSlot(int id, ulong gfn) => Expect("0", b => b.Set(b.Region(id) with { GuestPhysAddr = gfn << 12 }));

    [Then("creating memslot {int} with {int} pages at gfn {gfn} returns {errno}")]
    public void CreateReturns(int id, int pages, ulong gfn, int expected) =>
        Expect(Errno(expected), b => b.CreateMemslot(id, gfn, (ulong)pages, MemoryRegionFlags.None, 1));

    [Then("moving memslot {int} to gfn {gfn} returns {errno}")]
    public void MoveReturns(int id, ulong gfn, int expected) => Expect(Errno(expected), b => b.Set(b.Region(id) with { GuestPhysAddr = gfn << 12 }));

    [Then("making memslot {int} read-only returns {errno}")]
    public void MakeReadOnlyReturns(int id, int expected) =>
        Expect(Errno(expected), b => b.Set(WithFlags(b.Region(id), f => f | MemoryRegionFlags.ReadOnly)));

    [Then("deleting memslot {int} returns {errno}")]
    public void DeleteReturns(int id, int expected) => Expect(Errno(expected), b => b.Set(UserspaceMemoryRegion.Delete(Slot(id))));

    /// <summary>A VMM's guest RAM: anonymous memory (THP-backed for 2M host pages) and a memslot over it; 1G host pages only the model's host has.</summary>
    private void Created(int id, ulong pages, ulong gfn, MemoryRegionFlags flags, int hostLevel)
    {
        if (hostLevel > 2)
        {
            Assert.Equal(0, Kvm.CreateMemslot(id, gfn, pages, flags, hostLevel));
        }
        else
        {
            Expect("0", b => b.CreateMemslot(id, gfn, pages, flags, hostLevel));
        }

        world.UserPagesOf[id] = world.Model.Region(id).UserspaceAddr >> 12;
    }

    private static MemslotId Slot(int id) => new((ushort)id);

    internal static string Errno(int result) => new KvmResult(result).ToString();

    /// <summary>Runs a uAPI call on every backend and checks the model's result; the kernel's is compared with the model's.</summary>
    private void Expect(string expected, Func<Backend, KvmResult> call) => Assert.Equal(expected, world.Each(b => call(b).ToString()));

    private void Expect(string expected, Func<Backend, string> observe) => Assert.Equal(expected, world.Each(observe));

    private void SetFlags(int id, Func<MemoryRegionFlags, MemoryRegionFlags> change) =>
        Expect("0", b => b.Set(WithFlags(b.Region(id), change)));

    private static UserspaceMemoryRegion WithFlags(UserspaceMemoryRegion region, Func<MemoryRegionFlags, MemoryRegionFlags> change) => region with { Flags = change(region.Flags) };

    [Given("dirty logging is enabled on memslot {int}")]
    [When("dirty logging is enabled on memslot {int}")]
    public void EnableLogging(int id) => SetFlags(id, f => f | MemoryRegionFlags.LogDirtyPages);

    [When("dirty logging is enabled on memslot {int} with mmu_lock contended at gfn {gfn}, while vCPU {int} writes gfn {gfn}")]
    public void EnableLoggingContended(int id, ulong contendedAt, int vcpu, ulong gfn)
    {
        var writer = world.Vcpu(vcpu);
        Kvm.Contention.At(contendedAt);
        Kvm.WhileUnlocked.Enqueue(() => Kvm.Access(writer, gfn, AccessKind.Write));
        Assert.Equal(0, Kvm.SetMemslotFlags(id, Kvm.Slot(id).Flags | MemoryRegionFlags.LogDirtyPages));
        Assert.True(Kvm.WhileUnlocked.Count == 0, $"enabling logging on memslot {id} did not yield at gfn 0x{contendedAt:x}");
    }

    [When("dirty logging is disabled on memslot {int} with mmu_lock contended at gfn {gfn}, while vCPU {int} reads gfn {gfn}")]
    public void DisableLoggingContended(int id, ulong contendedAt, int vcpu, ulong gfn)
    {
        var reader = world.Vcpu(vcpu);
        Kvm.Contention.At(contendedAt);
        Kvm.WhileUnlocked.Enqueue(() => Kvm.Access(reader, gfn, AccessKind.Read));
        Assert.Equal(0, Kvm.SetMemslotFlags(id, Kvm.Slot(id).Flags & ~MemoryRegionFlags.LogDirtyPages));
        Assert.True(Kvm.WhileUnlocked.Count == 0, $"disabling logging on memslot {id} did not yield at gfn 0x{contendedAt:x}");
    }

    [When("dirty logging is disabled on memslot {int}")]
    public void DisableLogging(int id) => SetFlags(id, f => f & ~MemoryRegionFlags.LogDirtyPages);

    [When("the process's mm is released")]
    public void Release() => Kvm.Release();

    [When("the process's mm is released with mmu_lock contended at gfn {gfn}")]
    public void ReleaseContended(ulong contendedAt)
    {
        Kvm.Contention.At(contendedAt);
        Kvm.Release();
    }

    /// <summary>What a range operation logged of its walk: which walk dropped mmu_lock where, and what it flushed first.</summary>
    [Then("the log has a line with {string}")]
    public void LogHas(string text) =>
        Assert.True(Kvm.Log.Any(line => line.Contains(text, StringComparison.Ordinal)), $"no line of the log holds \"{text}\"");

    [Then("the log has no line with {string}")]
    public void LogHasNot(string text) =>
        Assert.True(!Kvm.Log.Any(line => line.Contains(text, StringComparison.Ordinal)), $"a line of the log holds \"{text}\"");

    /// <summary>One KVM_RUN per access, as the model's vCPU takes them: a store of 0 or a load, 4 bytes at the page's start.</summary>
    private void Touch(int vcpu, IEnumerable<ulong> gfns, bool write) => world.Each(b => string.Join("; ", gfns.Select(gfn =>
        b.Run(world, vcpu, [write ? GuestAccess.Write(gfn << 12, 0) : GuestAccess.Read(gfn << 12)]))));

    [Given("vCPU {int} has read gfn {gfn}")]
    [When("vCPU {int} reads gfn {gfn}")]
    public void Reads(int vcpu, ulong gfn) => Touch(vcpu, [gfn], write: false);

    [Given("vCPU {int} has written gfn {gfn}")]
    [When("vCPU {int} writes gfn {gfn}")]
    public void Writes(int vcpu, ulong gfn) => Touch(vcpu, [gfn], write: true);

    [Given("vCPU {int} has fetched from gfn {gfn}")]
    [When("vCPU {int} fetches from gfn {gfn}")]
    public void Fetches(int vcpu, ulong gfn) => Kvm.Access(world.Vcpu(vcpu), gfn, AccessKind.Fetch);

    [When("vCPU {int} writes gfns {gfn_list}")]
    public void WritesMany(int vcpu, ulong[] gfns) => Touch(vcpu, gfns, write: true);

    [When("vCPU {int} writes every gfn in [{gfn}, {gfn})")]
    public void WritesRange(int vcpu, ulong start, ulong end)
    {
        var gfns = new List<ulong>();
        for (var gfn = start; gfn < end; gfn++)
        {
            gfns.Add(gfn);
        }

        Touch(vcpu, gfns, write: true);
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

    [Then("vCPU {int} exited to userspace with {exit}")]
    public void ExitedWith(int vcpu, string exit) => Expect(exit, b => b.ExitName(vcpu));

    [Then("vCPU {int}'s KVM_EXIT_MMIO is a {mmio_direction} of {int} bytes at gpa {gpa}")]
    public void MmioExit(int vcpu, bool isWrite, int length, ulong gpa) =>
        Expect($"{(isWrite ? "write" : "read")} of {length} bytes at gpa 0x{gpa:x}", b => b.Mmio(vcpu) is { } mmio
            ? $"{(mmio.IsWrite ? "write" : "read")} of {mmio.Len} bytes at gpa 0x{mmio.Gpa:x}"
            : $"no KVM_EXIT_MMIO (last exit: {b.ExitName(vcpu)})");

    [Then("vCPU {int}'s KVM_EXIT_MMIO carries the data {pfn}")]
    public void MmioData(int vcpu, ulong data) =>
        Expect($"0x{data:x}", b => b.Mmio(vcpu) is { } mmio ? $"0x{mmio.Data:x}" : $"no KVM_EXIT_MMIO (last exit: {b.ExitName(vcpu)})");

    [When("vCPU {int} loads from gpa {gpa}")]
    public void Load(int vcpu, ulong gpa) => LoadBytes(vcpu, 8, gpa);

    [When("vCPU {int} loads {int} bytes from gpa {gpa}")]
    public void LoadBytes(int vcpu, int width, ulong gpa) => world.Each(b => b.Run(world, vcpu, [GuestAccess.Read(gpa, width)]));

    [When("userspace answers vCPU {int}'s MMIO read with {pfn}")]
    public void AnswerMmio(int vcpu, ulong data) => world.Each(b => b.Resume(world, vcpu, data));

    [Then("the load returned {pfn}")]
    public void LoadReturned(ulong value) => Expect(FaultSteps.Hex(value), b => FaultSteps.Hex(b.LastLoad));

    [Then("the load did not complete")]
    public void LoadDidNotComplete() => Expect(FaultSteps.Hex(null), b => FaultSteps.Hex(b.LastLoad));

    [When("KSM merges the page behind gfn {gfn}")]
    public void KsmMerge(ulong gfn) => Kvm.KsmMerge(world.UserPage(gfn));

    [When("the host migrates the page behind gfn {gfn}")]
    public void Migrate(ulong gfn)
    {
        var (start, end) = world.UserPages(gfn, gfn + 1);
        Kvm.Migrate(start, end);
    }

    [When("the host migrates the page behind gfn {gfn} while vCPU {int} faults on it for a {access}")]
    public void MigrateDuringFault(ulong gfn, int vcpu, AccessKind access)
    {
        var (start, end) = world.UserPages(gfn, gfn + 1);
        Kvm.BeforeFaultTakesLock.Enqueue(() => Kvm.Migrate(start, end));
        Kvm.Access(world.Vcpu(vcpu), gfn, access);
    }

    [When("the host swaps out gfns [{gfn}, {gfn})")]
    public void SwapOut(ulong start, ulong end)
    {
        var pages = world.UserPages(start, end);
        Kvm.SwapOut(pages.Start, pages.End);
    }

    [When("the host munmaps gfns [{gfn}, {gfn})")]
    public void Munmap(ulong start, ulong end) => Expect("0", b => b.Vm.Memory.Munmap(UserAddress(b, start, end), (end - start) << 12));

    [When("the host makes the page behind gfn {gfn} read-only")]
    public void MprotectReadOnly(ulong gfn) => Mprotect(gfn, Prot.Read);

    [When("the host mprotects the page behind gfn {gfn} {prot}")]
    public void Mprotect(ulong gfn, Prot prot) => Expect("0", b => b.Vm.Memory.Mprotect(UserAddress(b, gfn, gfn + 1), UserspaceMemoryRegion.PageSize, prot));

    /// <summary>The VMM's address of gfn <paramref name="start"/>, which with the gfns up to <paramref name="end"/> one memslot must hold.</summary>
    private static ulong UserAddress(Backend b, ulong start, ulong end) =>
        b.RegionAt(start << 12) is { } region && end << 12 <= region.GuestPhysAddr + region.MemorySize
            ? region.UserspaceAddr + ((start << 12) - region.GuestPhysAddr)
            : throw new InvalidOperationException($"no memslot holds all of gfns [0x{start:x}, 0x{end:x}): name a range of one memslot");

    [When("the primary MMU ages gfns [{gfn}, {gfn}) with {notifier}")]
    public void Age(ulong start, ulong end, AgingNotifier notifier)
    {
        var pages = world.UserPages(start, end);
        Kvm.Age(pages.Start, pages.End, notifier);
    }

    [Then("test_young finds gfns [{gfn}, {gfn}) {young_old}")]
    public void TestYoung(ulong start, ulong end, bool young)
    {
        var pages = world.UserPages(start, end);
        Assert.Equal(young ? "young" : "old", Kvm.Age(pages.Start, pages.End, AgingNotifier.TestYoung) ? "young" : "old");
    }

    [When("the host swaps out gfns [{gfn}, {gfn}) with mmu_lock contended at gfn {gfn}, while vCPU {int} reads gfn {gfn}")]
    public void SwapOutContended(ulong start, ulong end, ulong contendedAt, int vcpu, ulong readGfn)
    {
        var pages = world.UserPages(start, end);
        var reader = world.Vcpu(vcpu);
        Kvm.Contention.At(contendedAt);
        Kvm.WhileUnlocked.Enqueue(() => Kvm.Access(reader, readGfn, AccessKind.Read));
        Kvm.SwapOut(pages.Start, pages.End);
    }

    [Then("the SPTE for gfn {gfn} maps the host page behind it, {writability}")]
    public void SpteMapsHostPage(ulong gfn, bool writable)
    {
        var leaves = Kvm.Mmu.LeavesFor(gfn).ToList();
        Assert.True(leaves.Count > 0, $"gfn 0x{gfn:x} has no SPTE");
        var host = Kvm.Host.Lookup(world.UserPage(gfn)) ?? throw new Xunit.Sdk.XunitException($"gfn 0x{gfn:x} has no host page");
        foreach (var leaf in leaves)
        {
            Assert.True(host.Pfn == leaf.Pfn, $"gfn 0x{gfn:x}'s SPTE 0x{leaf.Spte:x} maps pfn 0x{leaf.Pfn:x}, the host page is pfn 0x{host.Pfn:x}");
            Assert.True(writable == SpteMasks.IsWritable(leaf.Spte), $"gfn 0x{gfn:x}'s SPTE is {Kvm.Mmu.Masks.Describe(leaf.Spte)}, not {(writable ? "writable" : "read-only")}");
        }
    }

    [Then("the SPTE for gfn {gfn} is {pfn} in raw bits")]
    public void RawSpte(ulong gfn, ulong raw)
    {
        var (_, spte, _) = Assert.Single(Kvm.Mmu.LeavesFor(gfn));
        Assert.True(raw == spte, $"gfn 0x{gfn:x}'s SPTE is 0x{spte:x16} ({Kvm.Mmu.Masks.Describe(spte)}), not 0x{raw:x16}");
    }

    [Then("the SPTE for gfn {gfn} reads {spte_flags}")]
    public void SpteFlags(ulong gfn, string flags)
    {
        var (_, spte, _) = Assert.Single(Kvm.Mmu.LeavesFor(gfn));
        Assert.Equal(flags, Kvm.Mmu.Masks.Describe(spte));
    }

    [Then("gfn {gfn} has no SPTE")]
    public void NoSpte(ulong gfn) => Assert.Empty(Kvm.Mmu.LeavesFor(gfn));

    [Then("KVM_CHECK_EXTENSION\\({kvm_cap}) returns {long}")]
    public void CheckExtensionReturns(KvmCap cap, long expected) => Expect(new KvmResult(expected).ToString(), b => b.Vm.CheckExtension(cap));

    [Then("KVM_GET_STATS_FD reports {word} {long}")]
    public void StatReports(string name, long expected) => Expect(new KvmResult(expected).ToString(), b =>
    {
        var stats = b.Vm.GetStats();
        return !stats.IsOk ? stats.Result.ToString()
            : stats.Value.Find(name) is { } stat ? stat.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : $"no statistic {name}";
    });

    [Then("KVM_CREATE_VCPU with id {int} returns {errno}")]
    public void CreateVcpuReturns(uint id, int expected) => Expect(Errno(expected), b => b.Vm.CreateVcpu(id).Result);

    [Then("no SPTE is present")]
    public void NoSptes() => Assert.Empty(Kvm.Mmu.Leaves());

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
    public void SpteTreeSnapshot()
    {
        var sptes = Kvm.DescribeSptes();
        Pictures.SpteTree(context, Kvm, sptes, "sptes");
        context.Verify(sptes, "sptes");
    }

    [Then("the log matches the snapshot")]
    public void LogSnapshot()
    {
        Pictures.Log(context, Kvm);
        context.Verify(string.Join("\n", Kvm.Log), "log");
    }

    /// <summary>The checker's rules hold at the end of every scenario unless a step claimed the breach it expected.</summary>
    [AfterScenario]
    public void NoUnclaimedViolations()
    {
        if (world.Current is { } kvm)
        {
            kvm.CheckInvariants("the scenario");
            Assert.True(kvm.Violations.Count == 0, $"the checker reported {kvm.Violations.Count} breach(es) that no step claimed: see the log in the state below");
        }
    }
}
