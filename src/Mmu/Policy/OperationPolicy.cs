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

/// <summary>What FNAME(sync_spte) does with one SPTE for one kind of change to its guest PTE.</summary>
public enum SyncAction
{
    /// <summary>Leave the SPTE and its shadowed access (sp->shadowed_translation) as they are.</summary>
    Keep,

    /// <summary>kvm_mmu_page_set_access() and make_spte() with the new access, then mmu_spte_update().</summary>
    Rebuild,

    /// <summary>drop_spte(): the next access faults and maps the gPTE afresh.</summary>
    Drop,
}

/// <summary>
/// The kinds of change FNAME(sync_spte) tells apart, in the order it tests them: the gPTE is
/// invalid (FNAME(prefetch_invalid_gpte)), points at another frame, or grants the shadowed access,
/// only W more, only W less, or something else (U or X, with or without W).
/// </summary>
public enum GpteChange
{
    InvalidGpte,
    GfnChanged,
    AccessUnchanged,
    WriteAdded,
    WriteRemoved,
    OtherAccessChange,
}

/// <summary>
/// FNAME(sync_spte)'s decision table (spec keys InvalidGpte .. OtherAccessChange) and whether an
/// SPTE it rebuilds is Accessed (RebuildAccessed: make_spte's <c>!prefetch || synchronizing</c>).
/// </summary>
public sealed record SyncSptePolicy(
    SyncAction InvalidGpte,
    SyncAction GfnChanged,
    SyncAction AccessUnchanged,
    SyncAction WriteAdded,
    SyncAction WriteRemoved,
    SyncAction OtherAccessChange,
    bool RebuildAccessed)
{
    public SyncAction For(GpteChange change) => change switch
    {
        GpteChange.InvalidGpte => InvalidGpte,
        GpteChange.GfnChanged => GfnChanged,
        GpteChange.AccessUnchanged => AccessUnchanged,
        GpteChange.WriteAdded => WriteAdded,
        GpteChange.WriteRemoved => WriteRemoved,
        _ => OtherAccessChange,
    };

    /// <summary>
    /// How the access a gPTE now grants differs from the shadowed access, as seed 004's patch
    /// compares them: equal, <c>(old | ACC_WRITE_MASK) == new</c>, <c>old == (new | ACC_WRITE_MASK)</c>, or other.
    /// </summary>
    public static GpteChange Classify(uint oldAccess, uint newAccess)
    {
        const uint write = (uint)Acc.ACC_WRITE_MASK;
        return oldAccess == newAccess ? GpteChange.AccessUnchanged
            : (oldAccess | write) == newAccess ? GpteChange.WriteAdded
            : oldAccess == (newAccess | write) ? GpteChange.WriteRemoved
            : GpteChange.OtherAccessChange;
    }
}

/// <summary>One operation's rules, with the spec line they come from.</summary>
/// <param name="Roots">Only for operations that pick roots from a kvm_gfn_range (UnmapGfnRange, AgeGfnRange).</param>
/// <param name="Sync">Only for FNAME(sync_spte) (SyncSpte): what it does per kind of gPTE change.</param>
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
    RootPolicy? Roots = null,
    SyncSptePolicy? Sync = null);

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
