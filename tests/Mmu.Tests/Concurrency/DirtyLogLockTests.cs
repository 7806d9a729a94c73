using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests.Concurrency;

/// <summary>
/// kvm_get_dirty_log_protect() and kvm_clear_dirty_log_protect() (virt/kvm/kvm_main.c) hold
/// KVM_MMU_LOCK once around their whole word loop, each word's xchg / atomic_long_fetch_andnot
/// inside it. With the write lock no end state tells this from a lock taken per word (a fault's
/// section under the read lock touches one word's pages, so it commutes with the other words'
/// re-protection), so these tests read the trace: a fault that reaches read_lock(mmu_lock) while
/// the ioctl is between two words spins until the ioctl's KVM_MMU_UNLOCK. Under manual protect
/// KVM_GET_DIRTY_LOG takes no lock at all and only copies; the CLEAR that follows re-arms what
/// the copy holds.
/// </summary>
public class DirtyLogLockTests
{
    /// <summary>Words 0 and 1 of the slot's bitmap dirty (gfns 0x10, 0x50), gfn 0x60 unmapped: vCPU 1's write fault on it takes the slow path, under read_lock.</summary>
    private static Func<ConcurrentScenario> Scenario(Func<ConcurrentKvm, ConcurrentThread> ioctl) => () =>
    {
        var kvm = new Kvm.Kvm(SpecModels.Base);
        var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
        Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.LogDirtyPages, 1));
        kvm.Access(vcpus[0], 0x10, AccessKind.Write);
        kvm.Access(vcpus[0], 0x50, AccessKind.Write);
        var ctx = new ConcurrentKvm(kvm);
        return new ConcurrentScenario(ctx, [ioctl(ctx), Operations.Access(ctx, vcpus[1], 0x60, AccessKind.Write)], Operations.FinalCheck);
    };

    public static TheoryData<string> Ioctls => ["KVM_GET_DIRTY_LOG", "KVM_CLEAR_DIRTY_LOG"];

    private static Func<ConcurrentScenario> Of(string ioctl) => Scenario(ioctl == "KVM_GET_DIRTY_LOG"
        ? ctx => Operations.FetchDirtyLog(ctx, 0)
        : ctx => Operations.ClearDirtyLog(ctx, 0, 0, 128, [ulong.MaxValue, ulong.MaxValue]));

    [Theory]
    [MemberData(nameof(Ioctls))]
    public void A_fault_that_reaches_mmu_lock_between_two_words_waits_for_the_whole_loop(string ioctl)
    {
        var scenario = Of(ioctl);

        // The ioctl alone up to the take of word 1 (word 0 taken and re-protected), then the fault
        // as far as it can go: it spins on read_lock, so the ioctl runs on to its unlock.
        var solo = Scheduler.Replay(scenario, "").Trace.Select(s => s.What).ToList();
        var word1 = solo.FindIndex(w => w.StartsWith($"{ioctl}: ", StringComparison.Ordinal) && w.Contains("bitmap word 1", StringComparison.Ordinal));
        Assert.True(word1 > 0, string.Join('\n', solo));
        var run = Scheduler.Replay(scenario, new string('0', word1) + new string('1', solo.Count));
        Assert.True(run.Clean, run.Describe());

        var steps = run.Trace.Select(s => s.What).ToList();
        var threads = run.Trace.Select(s => s.Thread).ToList();
        Assert.Equal(1, steps.Count(w => w == $"{ioctl}: KVM_MMU_LOCK"));
        var unlock = steps.IndexOf($"{ioctl}: KVM_MMU_UNLOCK");
        var take = steps.FindIndex(w => w.StartsWith($"{ioctl}: ", StringComparison.Ordinal) && w.Contains("bitmap word 1", StringComparison.Ordinal));
        var readLock = steps.FindIndex(w => w == "read_lock(mmu_lock)");
        Assert.True(take >= 0 && unlock > take && readLock > unlock, run.Describe());
        Assert.Equal(1, threads[readLock]);

        // The fault did run between the words up to its spin: it is the lock, not the schedule, that kept it out.
        Assert.Contains(threads.Take(take), t => t == 1);
    }

    [Fact]
    public void Under_manual_protect_the_get_copies_without_the_lock_and_the_clear_rearms_only_what_it_copied()
    {
        // kvm_get_dirty_log_protect() with manual_dirty_log_protect: dirty_bitmap_buffer =
        // dirty_bitmap, no KVM_MMU_LOCK, no xchg, no flush. vCPU 1's fault on gfn 0x50 runs whole
        // between the copy and the clear; userspace never saw 0x50, so the clear leaves it pending.
        Kvm.Kvm? kvm = null;
        ConcurrentScenario Build()
        {
            kvm = new Kvm.Kvm(SpecModels.Base);
            var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
            Assert.Equal(0, kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable));
            Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, MemoryRegionFlags.LogDirtyPages, 1));
            kvm.Access(vcpus[0], 0x10, AccessKind.Write);
            var ctx = new ConcurrentKvm(kvm);
            return new ConcurrentScenario(ctx, [Operations.FetchDirtyLog(ctx, 0), Operations.Access(ctx, vcpus[1], 0x50, AccessKind.Write)], Operations.FinalCheck);
        }

        var solo = Scheduler.Replay(Build, "").Trace.Select(s => s.What).ToList();
        Assert.StartsWith("KVM_GET_DIRTY_LOG: copy_to_user", solo[0], StringComparison.Ordinal);
        Assert.DoesNotContain(solo, w => w.StartsWith("KVM_GET_DIRTY_LOG: KVM_MMU_LOCK", StringComparison.Ordinal));
        var run = Scheduler.Replay(Build, "0" + new string('1', solo.Count));
        Assert.True(run.Clean, run.Describe());
        var steps = run.Trace.Select(s => s.What).ToList();
        Assert.True(steps.IndexOf("read_lock(mmu_lock)") < steps.IndexOf("KVM_CLEAR_DIRTY_LOG: KVM_MMU_LOCK"), run.Describe());
        var bitmap = kvm!.SlotById(0)!.DirtyBitmap!;
        Assert.Equal(0UL, bitmap[0]);
        Assert.Equal(1UL << (0x50 - 64), bitmap[1]);
    }
}
