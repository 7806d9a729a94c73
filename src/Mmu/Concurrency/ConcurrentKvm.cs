using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// The shared state concurrent operations run against: one VM (struct kvm) with its mmu_lock
/// and RCU, and which thread is running the current step, so each step can assert the lock it
/// needs. Breaches are recorded in the VM's checker (<see cref="Kvm.Kvm.Violations"/>) under the
/// rule's name, like every other rule.
/// </summary>
public sealed class ConcurrentKvm(Kvm.Kvm kvm)
{
    public Kvm.Kvm Kvm { get; } = kvm;

    public MmuRwlock MmuLock { get; } = new();

    public Rcu Rcu { get; } = new();

    public Srcu Srcu { get; } = new();

    /// <summary>
    /// An ablation for memslot updates: false lets the update go on as soon as it has published
    /// the new slot, without synchronize_srcu_expedited(), so a vCPU's fault may still act on the
    /// slot it read before.
    /// </summary>
    public bool SynchronizeSrcu { get; init; } = true;

    /// <summary>
    /// An ablation for the shared path's teardown: false frees an unlinked page table at once
    /// instead of through call_rcu(), which walkers still inside it then read freed.
    /// </summary>
    public bool FreeThroughRcu { get; init; } = true;

    /// <summary>The thread whose step is running (the scheduler sets it).</summary>
    public int Current { get; internal set; }

    /// <summary>The page tables handed to call_rcu() and freed since: a walker that reads one is a use after free.</summary>
    internal HashSet<ulong[]> FreedTables { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Whether another thread spins on mmu_lock as the current step runs (rwlock_needbreak; the scheduler sets it).</summary>
    public bool MmuLockContended { get; internal set; }

    /// <summary>Set by a step that changed an SPTE, so the checker runs after it.</summary>
    internal bool Changed { get; set; }

    /// <summary>
    /// lockdep_assert_held_read / lockdep_assert_held_write / lockdep_assert_held: the current thread
    /// must hold mmu_lock on <paramref name="side"/> (None: either side). A breach is recorded, as
    /// lockdep splats and the kernel goes on.
    /// </summary>
    public void AssertHeld(Policy.MmuLock? side, string where)
    {
        var held = MmuLock.HeldBy(Current);
        var ok = side switch
        {
            null => held != Policy.MmuLock.None,
            Policy.MmuLock.Read => held == Policy.MmuLock.Read,
            Policy.MmuLock.Write => held == Policy.MmuLock.Write,
            _ => true,
        };
        if (!ok)
        {
            var wanted = side switch { Policy.MmuLock.Read => "lockdep_assert_held_read", Policy.MmuLock.Write => "lockdep_assert_held_write", _ => "lockdep_assert_held" };
            Kvm.Violate("lockdep", $"{where}: {wanted}(&kvm->mmu_lock) in {ThreadName(Current)}, which holds it {(held == Policy.MmuLock.None ? "not at all" : "for " + held.ToString().ToLowerInvariant())}");
        }
    }

    /// <summary>A walker reads an entry of <paramref name="table"/>: it must not have been freed under it (RCU).</summary>
    public void CheckNotFreed(ulong[] table, string where)
    {
        if (FreedTables.Contains(table))
        {
            Kvm.Violate("page table use after free", $"{where}: {ThreadName(Current)} reads a page table freed after an unlink");
        }
    }

    // A logical clock of guest writes and dirty-log reports, for the end-of-run check.
    private long _clock;
    private readonly Dictionary<ulong, long> _lastWrite = [];
    private readonly Dictionary<ulong, long> _lastReport = [];

    /// <summary>A guest write to <paramref name="gfn"/> completed (the CPU wrote through a writable SPTE).</summary>
    public void GuestWrote(ulong gfn) => _lastWrite[gfn] = ++_clock;

    /// <summary>A dirty-log ioctl returned to userspace reporting <paramref name="gfns"/>: userspace reads their contents after it.</summary>
    public void Reported(IEnumerable<ulong> gfns)
    {
        ++_clock;
        foreach (var gfn in gfns)
        {
            _lastReport[gfn] = _clock;
        }
    }

    /// <summary>
    /// Once every operation is done: a page written after the last ioctl that reported it
    /// returned must be pending in the dirty bitmap or in a vCPU's unflushed PML log (the next
    /// exit or fetch flushes it there), or userspace never learns of the write
    /// (the concurrent form of the checker's "dirty page lost", which holds only once the
    /// faults that mark pages after their cmpxchg have finished).
    /// </summary>
    public void CheckWritesLogged()
    {
        foreach (var (gfn, written) in _lastWrite)
        {
            if (Kvm.FindSlot(gfn) is not { DirtyTracked: true } slot || _lastReport.GetValueOrDefault(gfn) > written)
            {
                continue;
            }

            // With the dirty ring the page must have an entry not yet reset (api.rst,
            // KVM_CAP_DIRTY_LOG_RING: userspace calls KVM_RESET_DIRTY_RINGS "*before* reading
            // the content of the dirty pages"): one userspace has yet to harvest, or one it has
            // harvested and will reset before it reads the page, as the sequential checker
            // holds (Kvm.CheckWriteLogged). A harvest and reset in this run resets every entry
            // it harvests, so after it only a write past its return needs a new push.
            var offset = gfn - slot.BaseGfn;
            var pending = Kvm.DirtyRing is null
                ? slot.DirtyBitmap is { } bitmap && (bitmap[offset / 64] & (1UL << (int)(offset % 64))) != 0
                : Kvm.Vcpus.Any(v => Kvm.RingOf(v).Outstanding(slot.Lineage, offset));
            if (!pending && !Kvm.PmlLogged(gfn))
            {
                Kvm.Violate("dirty page lost", $"gfn 0x{gfn:x} was written after its last report and is not pending in the {(Kvm.DirtyRing is null ? "dirty bitmap" : "dirty ring")} or a PML log");
            }
        }
    }

    /// <summary>What each operation came to, one line each (a guest access: done, the #PF the guest took), in the order they ended.</summary>
    public List<string> Outcomes { get; } = [];

    internal Func<int, string> ThreadName { get; set; } = t => $"thread {t}";
}
