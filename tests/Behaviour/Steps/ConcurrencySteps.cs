using System.Text;
using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;
using GuestAccess = SpecKit.Mmu.Guest.GuestAccess;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Steps that run operations concurrently (src/Mmu/Concurrency): the scenario gives a VM and the
/// operations that run together; every interleaving with at most two preemptions is explored,
/// each from a fresh VM built the same way, and the Then steps read what the exploration found.
/// </summary>
[Binding]
public sealed class ConcurrencySteps(ModelSwitch models, ScenarioContext context, VmWorld world)
{
    /// <summary>The preemption bound of the feature's explorations (CHESS): small enough for the suite's budget.</summary>
    public const int PreemptionBound = 2;

    private SpecModelInfo? _model;
    private int _vcpus;
    private ulong _npages;
    private int _hostLevel;
    private ExplorationResult? _result;
    private readonly List<Action<Kvm>> _setup = [];
    private readonly List<Action<Kvm>> _beforeMemslot = [];
    private MemoryRegionFlags _slotFlags = MemoryRegionFlags.None;
    private bool _manualProtect;
    private int? _ringEntries;
    private bool _synchronizeSrcu = true;
    private MmuKind _mmu = MmuKind.TdpEpt;
    private readonly List<Action<GuestKernel>> _guestMaps = [];
    private readonly List<Action<Kvm, GuestKernel>> _guestSetup = [];

    [Given("a concurrent VM under the {model} model with {int} vCPUs and {int} pages at gfn 0x0 with {level} host pages")]
    public void AConcurrentVm(string model, int vcpus, int npages, int hostLevel)
    {
        (_model, _vcpus, _npages, _hostLevel) = (models.Info(model), vcpus, (ulong)npages, hostLevel);
    }

    [Given("a concurrent VM under the {model} model with {int} vCPUs on shadow paging and {int} pages at gfn 0x0 with {level} host pages")]
    public void AConcurrentShadowVm(string model, int vcpus, int npages, int hostLevel)
    {
        AConcurrentVm(model, vcpus, npages, hostLevel);
        _mmu = MmuKind.Shadow;
    }

    [Given("before the operations the guest maps gva {gva} to gpa {gpa} with PTE flags {gpte_flags}")]
    public void BeforeGuestMaps(ulong gva, ulong gpa, GpteFlags flags) =>
        _guestMaps.Add(guest => guest.MapAtBoot(gva, gpa, ShadowSteps.Table, ShadowSteps.Table, ShadowSteps.Table, flags.Mask));

    [Given("before the operations vCPU {int} has made a(n) {guest_access} to gva {gva}")]
    public void BeforeGuestAccess(int vcpu, GuestAccess access, ulong gva) =>
        _guestSetup.Add((kvm, _) => Assert.True(kvm.Run(kvm.Vcpus[vcpu], gva, access).Completed, $"vCPU {vcpu}'s {access} to 0x{gva:x} did not complete"));

    [Given("before the operations vCPU {int} has rewritten the {entry} for gva {gva} unchanged")]
    public void BeforeGpteRewrite(int vcpu, int level, ulong gva) =>
        _guestSetup.Add((kvm, guest) => Assert.True(guest.WriteGpte(kvm.Vcpus[vcpu], gva, level, guest.Gpte(gva, level)).Completed, $"vCPU {vcpu}'s store to its {GuestWalker.LevelName(level)} did not complete"));

    [Given("before the operations the shadow page of the {entry} table for gva {gva} is {sync_state}")]
    public void BeforeShadowPageState(int level, ulong gva, bool unsync) =>
        _guestSetup.Add((kvm, guest) => Assert.Equal(unsync, Assert.Single(kvm.Shadow!.PagesWithGptes(guest.Tables.EntryGpa(gva, level) >> GuestWalker.PageShift)).Unsync));

    /// <summary><c>{operation}</c>: an MMU operation of the spec's policy (MmuOperation).</summary>
    [ParameterType("operation", @"\w+", WordsOf = typeof(MmuOperation), Description = "an MMU operation of spec/policy")]
    public static MmuOperation Operation(string text) => Enum.Parse<MmuOperation>(text);

    /// <summary><c>{lock_side}</c>: a side of mmu_lock, as a policy's Lock key says it.</summary>
    [ParameterType("lock_side", @"\w+", Words = ["read", "write"], Description = "read or write")]
    public static MmuLock LockSide(string text) => text == "write" ? MmuLock.Write : MmuLock.Read;

    /// <summary>A one-key edit of the spec's lock policy for the VM the scenario makes next, concurrent or not (<see cref="VmWorld.LockEdits"/>).</summary>
    [Given("the {operation} operation takes mmu_lock for {lock_side}")]
    public void OperationTakesLock(MmuOperation operation, MmuLock side)
    {
        Assert.True(world.Current is null, "a lock edit changes the VM the scenario makes next: give it before 'Given a VM ...'");
        world.LockEdits.Add((operation, side));
    }

    [Given("before the operations vCPU {int} has faulted gfn {gfn} for a {access}")]
    public void BeforeFault(int vcpu, ulong gfn, AccessKind access) => _setup.Add(kvm => kvm.Access(kvm.Vcpus[vcpu], gfn, access));

    [Given("before the operations clear_dirty_gfn_range has cleared D in gfns [{gfn}, {gfn})")]
    public void BeforeClearDirty(ulong start, ulong end) => _setup.Add(kvm => kvm.Tdp!.ClearDirtyGfnRange(start, end));

    [Given("before the operations memslot {int} maps {int} pages at gfn {gfn}")]
    public void BeforeMemslot(int id, int npages, ulong baseGfn) =>
        _setup.Add(kvm => Assert.Equal(0, kvm.CreateMemslot(id, baseGfn, (ulong)npages, MemoryRegionFlags.None, _hostLevel)));

    [Given("the concurrent VM does not split huge pages eagerly")]
    public void NoEagerSplit() => _setup.Add(kvm => kvm.EagerPageSplit = false);

    [Given("the concurrent VM logs dirty pages with PML")]
    public void Pml() => _beforeMemslot.Add(kvm => kvm.EnablePml = true);

    [Given("the memslot update does not wait for the vCPUs' SRCU read sections")]
    public void NoSynchronizeSrcu() => _synchronizeSrcu = false;

    [Given("the concurrent VM has a dirty ring of {int} entries")]
    public void DirtyRing(int entries) => _ringEntries = entries;

    [Given("the memslot logs dirty pages")]
    public void LogsDirtyPages() => _slotFlags |= MemoryRegionFlags.LogDirtyPages;

    [Given("the memslot is read-only")]
    public void ReadOnlySlot() => _slotFlags |= MemoryRegionFlags.ReadOnly;

    [Given("the concurrent VM has the KVM_X86_QUIRK_SLOT_ZAP_ALL quirk disabled")]
    public void NoSlotZapAll() => _beforeMemslot.Add(kvm => Assert.Equal(0, kvm.DisableQuirks(KvmX86Quirks.SlotZapAll)));

    [Given("the dirty log is protected manually")]
    public void ManualProtect() => _manualProtect = true;

    // Under manual protect GET only copies the bitmap; userspace re-arms the pages it copied by CLEAR (Operations.FetchDirtyLog).
    [Given("before the operations userspace has fetched the dirty log")]
    public void BeforeFetch() => _setup.Add(kvm =>
    {
        Assert.Equal(0, kvm.GetDirtyLog(0, out var copy));
        if (kvm.ManualProtect.HasFlag(ManualDirtyLogProtect.Enable))
        {
            Assert.Equal(0, kvm.ClearDirtyLog(0, 0, _npages, copy));
        }
    });

    [When("vCPU {int} and vCPU {int} fault gfn {gfn} for a {access} concurrently")]
    public void TwoAccesses(int a, int b, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[a], gfn, access), Operations.Access(ctx, v[b], gfn, access)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while vCPU {int} faults gfn {gfn} for a {access}")]
    public void TwoAccessesOfTwoGfns(int a, ulong gfnA, AccessKind accessA, int b, ulong gfnB, AccessKind accessB) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[a], gfnA, accessA), Operations.Access(ctx, v[b], gfnB, accessB)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while the MMU notifier invalidates gfns [{gfn}, {gfn})")]
    public void AccessRacingInvalidation(int vcpu, ulong gfn, AccessKind access, ulong start, ulong end) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.Invalidate(ctx, start, end, "the host changes the pages")]);

    [When("the primary MMU ages gfns [{gfn}, {gfn}) while the MMU notifier invalidates gfns [{gfn}, {gfn})")]
    public void AgingRacingInvalidation(ulong ageStart, ulong ageEnd, ulong start, ulong end) =>
        Explore((ctx, _) => [Operations.Age(ctx, ageStart, ageEnd), Operations.Invalidate(ctx, start, end, "the host changes the pages")]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while the primary MMU ages gfns [{gfn}, {gfn})")]
    public void AccessRacingAging(int vcpu, ulong gfn, AccessKind access, ulong start, ulong end) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.Age(ctx, start, end)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while the mm is released")]
    public void AccessRacingRelease(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.Release(ctx)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while KSM merges the page behind it")]
    public void AccessRacingKsm(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.KsmMerge(ctx, gfn)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace fetches the dirty log")]
    public void AccessRacingDirtyLog(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.FetchDirtyLog(ctx, 0)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace clears the dirty log of gfns [{gfn}, {gfn})")]
    public void AccessRacingClearDirtyLog(int vcpu, ulong gfn, AccessKind access, ulong start, ulong end) =>
        Explore((ctx, v) =>
        {
            // KVM_CLEAR_DIRTY_LOG's first_page and num_pages are slot-relative; the user bitmap has a bit set for every page of the range.
            var firstPage = start - ctx.Kvm.SlotById(0)!.BaseGfn;
            var numPages = end - start;
            var bitmap = new ulong[(numPages + 63) / 64];
            for (ulong i = 0; i < numPages; i++)
            {
                bitmap[i / 64] |= 1UL << (int)(i % 64);
            }

            return [Operations.Access(ctx, v[vcpu], gfn, access), Operations.ClearDirtyLog(ctx, 0, firstPage, numPages, bitmap)];
        });

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace harvests and resets the dirty rings")]
    public void AccessRacingRingReset(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.HarvestAndResetDirtyRings(ctx)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace enables dirty logging")]
    public void AccessRacingEnableLogging(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.EnableDirtyLogging(ctx, 0)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace disables dirty logging")]
    public void AccessRacingDisableLogging(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.DisableDirtyLogging(ctx, 0)]);

    [When("the MMU notifier invalidates gfns [{gfn}, {gfn}) while userspace enables dirty logging")]
    public void InvalidationRacingEnableLogging(ulong start, ulong end) =>
        Explore((ctx, _) => [Operations.Invalidate(ctx, start, end, "the host changes the pages"), Operations.EnableDirtyLogging(ctx, 0)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace deletes the memslot")]
    public void AccessRacingDelete(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.DeleteMemslot(ctx, 0)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace moves the memslot to gfn {gfn}")]
    public void AccessRacingMove(int vcpu, ulong gfn, AccessKind access, ulong newBaseGfn) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.MoveMemslot(ctx, 0, newBaseGfn)]);

    [When("vCPU {int} faults gfn {gfn} for a {access} while write tracking is added for it")]
    public void AccessRacingWriteTrackAdd(int vcpu, ulong gfn, AccessKind access) =>
        Explore((ctx, v) => [Operations.Access(ctx, v[vcpu], gfn, access), Operations.WriteTrackAdd(ctx, gfn)]);

    [When("vCPU {int} makes a(n) {guest_access} to gva {gva} while vCPU {int} sets {gpte_flags} in the {entry} for gva {gva}")]
    public void GuestAccessRacingGpteStore(int vcpu, GuestAccess access, ulong gva, int other, GpteFlags flags, int level, ulong target)
    {
        Explore((ctx, v) => Operations.GuestAccessRacingGpteStore(ctx, _guest!, v[vcpu], gva, access, 0x1000, v[other], level, target, flags.Mask, flags.ToString(), new GuestAccessResult[1]));
    }

    [Then("in every interleaving the checker reports nothing")]
    public void EveryInterleavingClean()
    {
        var result = Result;
        Assert.True(result.Complete, $"the exploration stopped at its budget: {result}");
        Assert.True(result.Clean, $"{result}\n{result.FirstFailure?.Describe()}");
    }

    [Then("in some interleavings the checker reports {string}")]
    public void SomeInterleavingsReport(string rule)
    {
        var result = Result;
        Assert.True(result.Findings.ContainsKey(rule), $"no interleaving breaks \"{rule}\": {result}");
        Assert.True(result.Findings[rule] < result.Schedules, $"every interleaving breaks \"{rule}\", not some: {result}");
        var replay = Scheduler.Replay(Build, result.FirstFailure!.Schedule);
        Assert.Equal(result.FirstFailure.Findings, replay.Findings);
    }

    [Then("in every interleaving the checker reports {string}")]
    public void EveryInterleavingReports(string rule)
    {
        var result = Result;
        Assert.True(result.Findings.GetValueOrDefault(rule) == result.Schedules, $"not every interleaving breaks \"{rule}\": {result}");
    }

    [Then("the exploration matches the snapshot")]
    public void MatchesSnapshot()
    {
        var result = Result;
        var text = new StringBuilder();
        text.Append($"{result.Strategy}: {result.Schedules} interleavings, {result.Failing} failing\n");
        foreach (var (rule, count) in result.Findings.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            text.Append($"  \"{rule}\" in {count}\n");
        }

        foreach (var (outcome, count) in result.Outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            text.Append($"ending {outcome}: {count}\n");
        }

        if (result.FirstFailure is { } failure)
        {
            text.Append("first failing interleaving:\n").Append(failure.Describe());
        }

        context.Verify(text.ToString());
    }

    private ExplorationResult Result => _result ?? throw new InvalidOperationException("no exploration yet: a When step runs the operations concurrently");

    private Func<ConcurrentKvm, KvmVcpu[], ConcurrentThread[]>? _threads;

    /// <summary>The guest kernel of the scenario being built, under shadow paging.</summary>
    private GuestKernel? _guest;

    private ConcurrentScenario Build()
    {
        var info = world.Edited(_model ?? throw new InvalidOperationException("no VM yet: start with 'Given a concurrent VM ...'"));

        var kvm = new Kvm(info, _mmu);
        if (_ringEntries is { } entries)
        {
            // KVM_CAP_DIRTY_LOG_RING only before any vCPU exists (kvm_vm_ioctl_enable_dirty_log_ring).
            Assert.Equal(0, kvm.EnableDirtyRing((uint)(entries * KvmDirtyGfn.Size)));
        }

        var vcpus = Enumerable.Range(0, _vcpus).Select(_ => kvm.CreateVcpu()).ToArray();
        foreach (var step in _beforeMemslot)
        {
            step(kvm);
        }

        if (_manualProtect)
        {
            Assert.Equal(0, kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable));
        }

        Assert.Equal(0, kvm.CreateMemslot(0, 0, _npages, _slotFlags, _hostLevel));
        foreach (var step in _setup)
        {
            step(kvm);
        }

        _guest = null;
        if (_mmu == MmuKind.Shadow)
        {
            // The guest lays out its tables, boots with RAM in its direct map, then runs (VmWorld.Vcpu).
            _guest = new GuestKernel(kvm);
            foreach (var map in _guestMaps)
            {
                map(_guest);
            }

            _guest.Boot(new GuestCpuState { Cr0Wp = true, EferNx = true });
            foreach (var step in _guestSetup)
            {
                step(kvm, _guest);
            }
        }

        var ctx = new ConcurrentKvm(kvm) { SynchronizeSrcu = _synchronizeSrcu };
        return new ConcurrentScenario(ctx, _threads!(ctx, vcpus), Operations.FinalCheck);
    }

    private void Explore(Func<ConcurrentKvm, KvmVcpu[], ConcurrentThread[]> threads)
    {
        _threads = threads;
        _result = Explorer.Exhaustive(Build, PreemptionBound);
    }
}
