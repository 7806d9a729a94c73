namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// RCU as the TDP MMU uses it: walkers run inside rcu_read_lock() (kvm_tdp_mmu_map, fast page
/// fault's kvm_tdp_mmu_fast_pf_get_last_sptep, lockless aging), and an unlinked page table is
/// freed by call_rcu() (tdp_mmu_free_sp_rcu_callback from handle_removed_pt), so no walker that
/// could still hold a pointer into it sees it freed. The model runs the callbacks at a grace
/// period: once no thread is inside a read-side section. That waits for readers that began after
/// call_rcu() too, which delays frees and never hides one a real grace period would allow early:
/// such a reader cannot reach a table that was unlinked before it began.
/// </summary>
public sealed class Rcu
{
    private readonly HashSet<int> _readers = [];
    private readonly Queue<(string What, Action Free)> _callbacks = new();

    public bool InReadSide(int thread) => _readers.Contains(thread);

    public void ReadLock(int thread) => KvmWarn.On(!_readers.Add(thread), $"rcu_read_lock nested in thread {thread} (the model's walkers never nest)");

    public void ReadUnlock(int thread) => KvmWarn.On(!_readers.Remove(thread), $"rcu_read_unlock in thread {thread} outside a read-side section");

    /// <summary>call_rcu(): <paramref name="free"/> runs after the grace period.</summary>
    public void CallRcu(string what, Action free) => _callbacks.Enqueue((what, free));

    public int Pending => _callbacks.Count;

    /// <summary>Runs the callbacks whose grace period has ended; the scheduler asks after every step.</summary>
    public void PollGracePeriod()
    {
        while (_readers.Count == 0 && _callbacks.TryDequeue(out var callback))
        {
            callback.Free();
        }
    }
}
