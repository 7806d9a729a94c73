using SpecKit.Features;
using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Two operations of the TDP MMU run together on the scenario's VM in one given schedule (the
/// thread of each step, one digit each: 0 the first operation, 1 the second), as an exploration
/// or the explorer's RacedFaults printed it; the run replays step for step, and the checker runs
/// after every step that changed an SPTE and once both are done (Operations.FinalCheck).
/// </summary>
[Binding]
public sealed class ScheduleSteps(VmWorld world)
{
    private Kvm Kvm => world.Kvm;

    [When("vCPU {int} faults gfn {gfn} for a {access} while vCPU {int} faults gfn {gfn} for a {access}, in the schedule {schedule}")]
    public void TwoFaults(int a, ulong gfnA, AccessKind accessA, int b, ulong gfnB, AccessKind accessB, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(a), gfnA, accessA), ctx => Operations.Access(ctx, world.Vcpu(b), gfnB, accessB));

    [When("vCPU {int} faults gfn {gfn} for a {access} while the MMU notifier invalidates gfns [{gfn}, {gfn}), in the schedule {schedule}")]
    public void FaultRacingInvalidation(int vcpu, ulong gfn, AccessKind access, ulong start, ulong end, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.Invalidate(ctx, start, end, "the host changes the pages"));

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace fetches the dirty log of memslot {int}, in the schedule {schedule}")]
    public void FaultRacingDirtyLog(int vcpu, ulong gfn, AccessKind access, int slot, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.FetchDirtyLog(ctx, slot));

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace enables dirty logging on memslot {int}, in the schedule {schedule}")]
    public void FaultRacingEnableLogging(int vcpu, ulong gfn, AccessKind access, int slot, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.EnableDirtyLogging(ctx, slot));

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace disables dirty logging on memslot {int}, in the schedule {schedule}")]
    public void FaultRacingDisableLogging(int vcpu, ulong gfn, AccessKind access, int slot, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.DisableDirtyLogging(ctx, slot));

    [When("vCPU {int} faults gfn {gfn} for a {access} while the primary MMU ages gfns [{gfn}, {gfn}), in the schedule {schedule}")]
    public void FaultRacingAging(int vcpu, ulong gfn, AccessKind access, ulong start, ulong end, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.Age(ctx, start, end));

    /// <summary>KVM_CLEAR_DIRTY_LOG with the user's bitmap as written; the step also asserts the ioctl's result.</summary>
    [When("vCPU {int} faults gfn {gfn} for a {access} while KVM_CLEAR_DIRTY_LOG on memslot {int} from page {int} for {int} pages with the bitmap {bitmap} returns {errno}, in the schedule {schedule}")]
    public void FaultRacingClearDirtyLog(int vcpu, ulong gfn, AccessKind access, int slot, int firstPage, int numPages, ulong[] bitmap, int errno, string schedule)
    {
        var result = new int[1];
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.ClearDirtyLog(ctx, slot, (ulong)firstPage, (ulong)numPages, bitmap, result));
        Assert.Equal(VmSteps.Errno(errno), VmSteps.Errno(result[0]));
    }

    [When("vCPU {int} faults gfn {gfn} for a {access} while the host migrates the page behind gfn {gfn}, in the schedule {schedule}")]
    public void FaultRacingMigration(int vcpu, ulong gfn, AccessKind access, ulong page, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.Migrate(ctx, page));

    [When("vCPU {int} faults gfn {gfn} for a {access} while KSM merges the page behind gfn {gfn}, in the schedule {schedule}")]
    public void FaultRacingKsm(int vcpu, ulong gfn, AccessKind access, ulong page, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.KsmMerge(ctx, page));

    [When("vCPU {int} faults gfn {gfn} for a {access} while userspace harvests and resets the dirty rings, in the schedule {schedule}")]
    public void FaultRacingRingReset(int vcpu, ulong gfn, AccessKind access, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.HarvestAndResetDirtyRings(ctx));

    [When("vCPU {int} faults gfn {gfn} for a {access} while write tracking is added for gfn {gfn}, in the schedule {schedule}")]
    public void FaultRacingWriteTrackAdd(int vcpu, ulong gfn, AccessKind access, ulong tracked, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.WriteTrackAdd(ctx, tracked));

    [When("vCPU {int} faults gfn {gfn} for a {access} while the mm is released, in the schedule {schedule}")]
    public void FaultRacingRelease(int vcpu, ulong gfn, AccessKind access, string schedule) =>
        Run(schedule, ctx => Operations.Access(ctx, world.Vcpu(vcpu), gfn, access), ctx => Operations.Release(ctx));

    private void Run(string schedule, Func<ConcurrentKvm, ConcurrentThread> first, Func<ConcurrentKvm, ConcurrentThread> second)
    {
        var ctx = new ConcurrentKvm(Kvm);
        var run = Scheduler.Run(new ConcurrentScenario(ctx, [first(ctx), second(ctx)], Operations.FinalCheck), new Scheduler.Follow(schedule));
        Assert.True(run.Warning is null && !run.Deadlock, run.Describe());
        Assert.True(run.Schedule == schedule, $"the schedule ran as {run.Schedule}, not {schedule}:\n{run.Describe()}");
    }
}
