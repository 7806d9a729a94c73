namespace SpecKit.Mmu.Kvm;

/// <summary>A translation a vCPU's TLB holds: the host page and whether it may be written through.</summary>
public readonly record struct TlbEntry(ulong Pfn, bool Writable);

/// <summary>A vCPU: its TLB (gfn -> cached translation) and whether it is paused.</summary>
public sealed class KvmVcpu(int id)
{
    public int Id { get; } = id;

    public Dictionary<ulong, TlbEntry> Tlb { get; } = [];

    public bool Paused { get; set; }

    /// <summary>Why KVM_RUN last returned to userspace, if it did (KVM_EXIT_DIRTY_RING_FULL, -EFAULT).</summary>
    public string? LastExit { get; set; }
}

/// <summary>An invariant the model found broken, kept until a scenario claims it or the scenario ends.</summary>
public sealed record Violation(string Rule, string Detail)
{
    public override string ToString() => $"{Rule}: {Detail}";
}
