namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// One interleaving point: what a concurrent operation does next, and whether it can do it now
/// (a lock acquire spins while the lock is held). An operation is a C# iterator that yields a
/// <see cref="Step"/> before each action another thread can observe (an SPTE read, a cmpxchg, a
/// lock acquire or release, an RCU section boundary, a cond_resched point); the code between two
/// yields runs as one atomic step when the scheduler picks the thread.
/// </summary>
public readonly record struct Step(string What, Func<bool>? Enabled = null)
{
    public bool CanRun => Enabled?.Invoke() ?? true;

    public override string ToString() => What;
}

/// <summary>A concurrent operation of a scenario: a vCPU's access, a notifier call, an ioctl.</summary>
public sealed record ConcurrentThread(string Name, IEnumerable<Step> Body);
