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

    /// <summary>How a write under the write lock treats an SPTE whose bits others may change meanwhile.</summary>
    public VolatileSpteWrite SpteWrite { get; init; } = VolatileSpteWrite.XchgWhenVolatile;

    /// <summary>
    /// An ablation for the shared path's teardown: false frees an unlinked page table at once
    /// instead of through call_rcu(), which walkers still inside it then read freed.
    /// </summary>
    public bool FreeThroughRcu { get; init; } = true;

    /// <summary>The thread whose step is running (the scheduler sets it).</summary>
    public int Current { get; internal set; }

    /// <summary>The page tables handed to call_rcu() and freed since: a walker that reads one is a use after free.</summary>
    internal HashSet<ulong[]> FreedTables { get; } = new(ReferenceEqualityComparer.Instance);

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

    internal Func<int, string> ThreadName { get; set; } = t => $"thread {t}";
}

/// <summary>kvm_tdp_mmu_write_spte()'s choice for an SPTE with volatile bits (spte_needs_atomic_update).</summary>
public enum VolatileSpteWrite
{
    /// <summary>ba3a6120a4e7 (2022, "Use atomic XCHG to write TDP MMU SPTEs with volatile bits"): xchg, and the value it returns is the old SPTE.</summary>
    XchgWhenVolatile,

    /// <summary>Before it: WRITE_ONCE, and handle_changed_spte() is given the walk's old value, so A/D bits set since are lost.</summary>
    WriteOnce,
}
