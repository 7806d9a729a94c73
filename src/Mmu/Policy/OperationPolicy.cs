namespace SpecKit.Mmu.Policy;

// The runtime side of spec/**/*.policy: the spec generator emits one OperationPolicy per
// Operation block (MmuPolicy.<Name> in each model's namespace), and the MMU operations
// consult them, so a variant that changes a key changes what the model does.

/// <summary>The roots an operation picks from a kvm_gfn_range (spec keys RootFilter and InvalidRoots).</summary>
public sealed record RootPolicy(RootFilter Filter, bool IncludesInvalidRoots);

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
/// <param name="SpteWrite">How an exclusive write treats an SPTE with volatile bits (ZapLeafs, ClearDirtyPtMasked).</param>
/// <param name="BumpsSequence">Whether a standalone .change_pte() bumps mmu_notifier_seq (ChangePte).</param>
/// <param name="AfterYield">Where a TDP MMU walk goes on after yielding mmu_lock (the operations that yield).</param>
/// <param name="InvalidSlot">What a page fault does with a KVM_MEMSLOT_INVALID slot (TdpPageFault).</param>
public sealed record OperationPolicy(
    MmuOperation Operation,
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
    SyncSptePolicy? Sync = null,
    VolatileSpteWrite SpteWrite = VolatileSpteWrite.XchgWhenVolatile,
    bool BumpsSequence = true,
    YieldRestart AfterYield = YieldRestart.Restart,
    InvalidSlotFault InvalidSlot = InvalidSlotFault.Retry)
{
    /// <summary>The operation's name as the spec spells it, for the log.</summary>
    public string Name => Operation.ToString();
}

/// <summary>
/// A model's operation policies, one typed member per <see cref="MmuOperation"/>: the spec
/// generator fills every member from the model's Operation blocks (MmuPolicy.Rules in each
/// model's namespace), and the runtime reads them by member, so an operation the spec leaves
/// out is a build error at the spec (SPEC041), never a failed lookup at run time.
/// </summary>
public sealed record MmuRules
{
    public required string Model { get; init; }

    public required OperationPolicy ZapLeafs { get; init; }

    public required OperationPolicy ZapRoot { get; init; }

    public required OperationPolicy WrprotGfnRange { get; init; }

    public required OperationPolicy ClearDirtyGfnRange { get; init; }

    public required OperationPolicy ClearDirtyPtMasked { get; init; }

    public required OperationPolicy WriteProtectGfn { get; init; }

    public required OperationPolicy SplitHugePages { get; init; }

    public required OperationPolicy RecoverHugePages { get; init; }

    public required OperationPolicy AgeGfnRange { get; init; }

    public required OperationPolicy ChangePte { get; init; }

    public required OperationPolicy UnmapGfnRange { get; init; }

    public required OperationPolicy SyncSpte { get; init; }

    public required OperationPolicy TdpPageFault { get; init; }

    /// <summary>The policy of <paramref name="operation"/>: for tools that walk every operation.</summary>
    public OperationPolicy this[MmuOperation operation] => operation switch
    {
        MmuOperation.ZapLeafs => ZapLeafs,
        MmuOperation.ZapRoot => ZapRoot,
        MmuOperation.WrprotGfnRange => WrprotGfnRange,
        MmuOperation.ClearDirtyGfnRange => ClearDirtyGfnRange,
        MmuOperation.ClearDirtyPtMasked => ClearDirtyPtMasked,
        MmuOperation.WriteProtectGfn => WriteProtectGfn,
        MmuOperation.SplitHugePages => SplitHugePages,
        MmuOperation.RecoverHugePages => RecoverHugePages,
        MmuOperation.AgeGfnRange => AgeGfnRange,
        MmuOperation.ChangePte => ChangePte,
        MmuOperation.UnmapGfnRange => UnmapGfnRange,
        MmuOperation.SyncSpte => SyncSpte,
        MmuOperation.TdpPageFault => TdpPageFault,
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, "no such operation"),
    };

    /// <summary>These rules with <paramref name="policy"/> in place of its operation's: a scenario's one-key edit of the spec.</summary>
    public MmuRules With(OperationPolicy policy) => policy.Operation switch
    {
        MmuOperation.ZapLeafs => this with { ZapLeafs = policy },
        MmuOperation.ZapRoot => this with { ZapRoot = policy },
        MmuOperation.WrprotGfnRange => this with { WrprotGfnRange = policy },
        MmuOperation.ClearDirtyGfnRange => this with { ClearDirtyGfnRange = policy },
        MmuOperation.ClearDirtyPtMasked => this with { ClearDirtyPtMasked = policy },
        MmuOperation.WriteProtectGfn => this with { WriteProtectGfn = policy },
        MmuOperation.SplitHugePages => this with { SplitHugePages = policy },
        MmuOperation.RecoverHugePages => this with { RecoverHugePages = policy },
        MmuOperation.AgeGfnRange => this with { AgeGfnRange = policy },
        MmuOperation.ChangePte => this with { ChangePte = policy },
        MmuOperation.UnmapGfnRange => this with { UnmapGfnRange = policy },
        MmuOperation.SyncSpte => this with { SyncSpte = policy },
        MmuOperation.TdpPageFault => this with { TdpPageFault = policy },
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy.Operation, "no such operation"),
    };

    /// <summary>Every operation's policy, in <see cref="MmuOperation"/> order.</summary>
    public IEnumerable<OperationPolicy> Operations => Enum.GetValues<MmuOperation>().Select(o => this[o]);
}
