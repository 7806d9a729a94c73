namespace SpecKit.Mmu.Policy;

// The runtime side of spec/**/*.policy: the spec generator emits one OperationPolicy per
// Operation block (MmuPolicy.<Name> in each model's namespace), and the MMU operations
// consult them, so a variant that changes a key changes what the model does.

public enum MmuLock
{
    None,
    Read,
    Write,
}

public enum Visits
{
    Leaves,
    AllLevels,
}

[Flags]
public enum SpteChange
{
    None = 0,
    Zap = 1,
    Writable = 2,
    MmuWritable = 4,
    Dirty = 8,
    Accessed = 16,
    Split = 32,
    Recover = 64,
    Pfn = 128,
}

public enum FlushPolicy
{
    /// <summary>The change never needs a TLB flush.</summary>
    Never,

    /// <summary>Any change sets the operation's pending flush.</summary>
    OnChange,

    /// <summary>The operation reports what it changed; its caller flushes (once, for many).</summary>
    Caller,

    /// <summary>The operation always flushes when it is done.</summary>
    Always,
}

public enum YieldPolicy
{
    No,

    /// <summary>Flush any pending flush before dropping mmu_lock (tdp_mmu_iter_cond_resched).</summary>
    FlushFirst,

    /// <summary>Drop mmu_lock with nothing to flush.</summary>
    WithoutFlush,
}

public enum Invocation
{
    Standalone,

    /// <summary>Only ever called between invalidate_range_start and invalidate_range_end.</summary>
    InsideInvalidation,
}

/// <summary>
/// How kvm_tdp_mmu_unmap_gfn_range() turns the caller's struct kvm_gfn_range into the TDP MMU
/// roots it zaps: the merged kernel and the two designs seed 003 compares (src/Mmu/Tdx).
/// </summary>
public enum RootFilter
{
    /// <summary>v6.14: callers set range->attr_filter; kvm_gfn_range_filter_to_root_types() maps it to root types.</summary>
    AttrFilter,

    /// <summary>v19 (Feb 2024): zap_private from only_private/only_shared and the new attributes, passed to tdp_mmu_zap_leafs().</summary>
    ZapPrivateFlag,

    /// <summary>Seed 003 (Rick Edgecombe, Apr 2024): callers set exclude_private/exclude_shared; the loop skips those roots.</summary>
    ExcludeFlags,
}

/// <summary>The roots an operation picks from a kvm_gfn_range (spec keys RootFilter and InvalidRoots).</summary>
public sealed record RootPolicy(RootFilter Filter, bool IncludesInvalidRoots);

/// <summary>One operation's rules, with the spec line they come from.</summary>
/// <param name="Roots">Only for operations that pick roots from a kvm_gfn_range (UnmapGfnRange, AgeGfnRange).</param>
public sealed record OperationPolicy(
    string Name,
    string Title,
    bool Exists,
    Invocation Invocation,
    MmuLock Lock,
    Visits Visits,
    SpteChange Changes,
    bool RecordsDirty,
    bool RecordsAccessed,
    FlushPolicy Flush,
    YieldPolicy Yield,
    string Origin,
    RootPolicy? Roots = null);

/// <summary>
/// A leaf-rewriting range operation as the spec generator emits it from a policy
/// (TdpRangeOps.&lt;Name&gt; in each model); returns what its Flush policy says it returns.
/// </summary>
public delegate bool TdpRangeOp(Tdp.TdpMmu mmu, ulong start, ulong end, int minLevel, bool flush);

/// <summary>A model's operation policies, by name, and the range operations emitted from them.</summary>
public sealed class MmuRules(string model, IReadOnlyList<OperationPolicy> operations, IReadOnlyDictionary<string, TdpRangeOp> rangeOps)
{
    private readonly Dictionary<string, OperationPolicy> _byName = operations.ToDictionary(o => o.Name, StringComparer.Ordinal);

    /// <summary>The emitted code of operation <paramref name="name"/>.</summary>
    public TdpRangeOp RangeOp(string name) =>
        rangeOps.TryGetValue(name, out var op) ? op : throw new KeyNotFoundException($"model '{Model}' emits no range operation {name}");

    public string Model { get; } = model;

    public IReadOnlyList<OperationPolicy> Operations { get; } = operations;

    public OperationPolicy this[string name] =>
        _byName.TryGetValue(name, out var policy) ? policy : throw new KeyNotFoundException($"model '{Model}' declares no operation {name}");
}
