using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// kvm->mmu_lock on x86: an rwlock_t (KVM_HAVE_MMU_RWLOCK, kvm_host.h). The TDP MMU's faults and
/// the shared range walks take it for read (read_lock in kvm_tdp_page_fault's direct_page_fault,
/// kvm_tdp_mmu_wrprot_slot's caller), the notifier and the exclusive walks for write
/// (KVM_MMU_LOCK in kvm_handle_hva_range). Readers run together; a writer excludes everyone.
/// The model tracks who holds it so each step can assert the side it needs, as
/// lockdep_assert_held_read / lockdep_assert_held_write do in tdp_mmu.c
/// (kvm_lockdep_assert_mmu_lock_held, tdp_mmu_set_spte_atomic, tdp_mmu_set_spte).
/// </summary>
public sealed class MmuRwlock
{
    private readonly HashSet<int> _readers = [];
    private int _writer = -1;

    /// <summary>read_lock() does not spin: no writer holds the lock.</summary>
    public bool CanRead => _writer < 0;

    /// <summary>write_lock() does not spin: nobody holds the lock.</summary>
    public bool CanWrite => _writer < 0 && _readers.Count == 0;

    /// <summary>Whether <paramref name="side"/> could be taken now (<see cref="Policy.MmuLock.None"/>: always, RCU only).</summary>
    public bool CanTake(Policy.MmuLock side) => side switch
    {
        Policy.MmuLock.Read => CanRead,
        Policy.MmuLock.Write => CanWrite,
        _ => true,
    };

    public void Take(int thread, Policy.MmuLock side)
    {
        switch (side)
        {
            case Policy.MmuLock.Read:
                KvmWarn.On(!CanRead || !_readers.Add(thread), $"read_lock(mmu_lock) by thread {thread} while it is not free for readers");
                break;
            case Policy.MmuLock.Write:
                KvmWarn.On(!CanWrite, $"write_lock(mmu_lock) by thread {thread} while it is held");
                _writer = thread;
                break;
        }
    }

    public void Release(int thread, Policy.MmuLock side)
    {
        switch (side)
        {
            case Policy.MmuLock.Read:
                KvmWarn.On(!_readers.Remove(thread), $"read_unlock(mmu_lock) by thread {thread}, which does not hold it for read");
                break;
            case Policy.MmuLock.Write:
                KvmWarn.On(_writer != thread, $"write_unlock(mmu_lock) by thread {thread}, which does not hold it for write");
                _writer = -1;
                break;
        }
    }

    /// <summary>The side <paramref name="thread"/> holds, or <see cref="Policy.MmuLock.None"/>.</summary>
    public Policy.MmuLock HeldBy(int thread) =>
        _writer == thread ? Policy.MmuLock.Write : _readers.Contains(thread) ? Policy.MmuLock.Read : Policy.MmuLock.None;

    public bool IsFree => _writer < 0 && _readers.Count == 0;
}
