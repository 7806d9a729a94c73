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

    private void Run(string schedule, Func<ConcurrentKvm, ConcurrentThread> first, Func<ConcurrentKvm, ConcurrentThread> second)
    {
        var ctx = new ConcurrentKvm(Kvm);
        var run = Scheduler.Run(new ConcurrentScenario(ctx, [first(ctx), second(ctx)], Operations.FinalCheck), new Scheduler.Follow(schedule));
        Assert.True(run.Warning is null && !run.Deadlock, run.Describe());
        Assert.True(run.Schedule == schedule, $"the schedule ran as {run.Schedule}, not {schedule}:\n{run.Describe()}");
    }
}
