namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// kvm->srcu as a vCPU and a memslot update use it: a vCPU holds it from a VM exit until it
/// re-enters the guest (vcpu_enter_guest drops it around the entry, kvm_vcpu_srcu_read_unlock /
/// _lock), so every memslot pointer it read in between stays what it read; a memslot update
/// publishes the new slots (kvm_swap_active_memslots: rcu_assign_pointer) and then
/// synchronize_srcu_expedited() waits for every read-side section that began before, so once it
/// returns no vCPU still uses the old slot. A section that begins after the publish is not waited
/// for: it can only find the new slot.
/// </summary>
public sealed class Srcu
{
    private readonly Dictionary<int, long> _sections = [];
    private long _nextSection;

    /// <summary>srcu_read_lock(&amp;kvm->srcu).</summary>
    public void ReadLock(int thread) => KvmWarn.On(!_sections.TryAdd(thread, ++_nextSection), $"srcu_read_lock nested in thread {thread} (the model's vCPUs never nest it)");

    /// <summary>srcu_read_unlock(&amp;kvm->srcu), if the thread holds it.</summary>
    public void ReadUnlockIfHeld(int thread) => _sections.Remove(thread);

    /// <summary>
    /// synchronize_srcu_expedited(): the returned test turns true once every read-side section
    /// open now has ended (a step waiting on it cannot run before).
    /// </summary>
    public Func<bool> Synchronize()
    {
        var open = _sections.ToArray();
        return () => Array.TrueForAll(open, s => !_sections.TryGetValue(s.Key, out var section) || section != s.Value);
    }
}
