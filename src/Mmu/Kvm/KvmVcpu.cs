namespace SpecKit.Mmu.Kvm;

/// <summary>A translation a vCPU's TLB holds: the host page and what it may be used for.</summary>
public readonly record struct TlbEntry(ulong Pfn, bool Writable, bool Executable)
{
    public bool Allows(AccessKind access) => access switch
    {
        AccessKind.Write => Writable,
        AccessKind.Fetch => Executable,
        _ => true,
    };
}

/// <summary>What a vCPU does to a guest frame: an EPT violation's exit qualification names the same three.</summary>
public enum AccessKind
{
    Read,
    Write,
    Fetch,
}

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
