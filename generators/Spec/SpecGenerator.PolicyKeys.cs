using System;
using System.Collections.Generic;
using System.Linq;
using SpecKit.Generators.Spec.RuntimeValues;

namespace SpecKit.Generators.Spec;

/// <summary>
/// The keys an <c>Operation</c> block may set and the values each takes. They map one to one
/// onto the runtime's <c>OperationPolicy</c> (src/Mmu/Policy), which the operations consult;
/// the values of every key that the runtime holds as an enum are that enum's members
/// (src/Mmu/Policy/PolicyValues.cs, compiled into this generator), so the two cannot drift.
/// </summary>
internal static class PolicyKeys
{
    public static readonly Dictionary<string, string[]> Values = new()
    {
        ["Exists"] = ["Yes", "No"],
        ["Invocation"] = Names<Invocation>(),
        ["Lock"] = Names<MmuLock>(),
        ["Visits"] = Names<Visits>(),
        ["Changes"] = Names<SpteChange>().Where(n => n != nameof(SpteChange.None)).ToArray(),
        ["RecordsDirty"] = ["Yes", "No"],
        ["RecordsAccessed"] = ["Yes", "No"],
        ["Flush"] = Names<FlushPolicy>(),
        ["Yield"] = Names<YieldPolicy>(),
        ["RootFilter"] = Names<RootFilter>(),
        ["InvalidRoots"] = ["Included", "Excluded"],

        // FNAME(sync_spte) cannot rebuild from an invalid gPTE or one for another frame (there is
        // no gPTE, or no pfn for the new frame), so those keys take a subset of SyncAction.
        ["InvalidGpte"] = [nameof(SyncAction.Drop), nameof(SyncAction.Keep)],
        ["GfnChanged"] = [nameof(SyncAction.Drop), nameof(SyncAction.Keep)],
        ["AccessUnchanged"] = [nameof(SyncAction.Keep), nameof(SyncAction.Rebuild)],
        ["WriteAdded"] = [nameof(SyncAction.Rebuild), nameof(SyncAction.Keep), nameof(SyncAction.Drop)],
        ["WriteRemoved"] = [nameof(SyncAction.Rebuild), nameof(SyncAction.Keep), nameof(SyncAction.Drop)],
        ["OtherAccessChange"] = [nameof(SyncAction.Rebuild), nameof(SyncAction.Keep), nameof(SyncAction.Drop)],
        ["RebuildAccessed"] = ["Yes", "No"],
        ["SpteWrite"] = Names<VolatileSpteWrite>(),
        ["BumpsSequence"] = ["Yes", "No"],
        ["AfterYield"] = Names<YieldRestart>(),
        ["InvalidSlot"] = Names<InvalidSlotFault>(),
    };

    /// <summary>Keys that take a list of values; the others take exactly one.</summary>
    public static readonly HashSet<string> Lists = ["Changes"];

    /// <summary>Keys the base spec must give for every operation; the rest have defaults.</summary>
    public static readonly string[] Required = ["Lock", "Visits", "Changes", "RecordsDirty", "RecordsAccessed", "Flush", "Yield"];

    /// <summary>
    /// Keys only an operation that picks TDP MMU roots from a <c>struct kvm_gfn_range</c> gives
    /// (an unmap, aging): how the range selects the root kinds, and whether invalid roots are
    /// walked too. They have no default and go together: an operation gives both or neither.
    /// </summary>
    public static readonly string[] RootKeys = ["RootFilter", "InvalidRoots"];

    /// <summary>
    /// Keys only FNAME(sync_spte) gives: what it does with one SPTE of an unsync shadow page for
    /// each kind of change to the guest PTE behind it (Drop: drop_spte; Keep: leave the SPTE and
    /// the shadowed access; Rebuild: make_spte with the new access), and whether a rebuilt SPTE
    /// is Accessed. No defaults; an operation gives all of them or none.
    /// </summary>
    public static readonly string[] SyncKeys = ["InvalidGpte", "GfnChanged", "AccessUnchanged", "WriteAdded", "WriteRemoved", "OtherAccessChange", "RebuildAccessed"];

    /// <summary>
    /// Keys an operation gives only to differ from the kernel of today, each a group of its own:
    /// SpteWrite (how an exclusive write treats an SPTE with volatile bits, ba3a6120a4e7) and
    /// BumpsSequence (whether a standalone .change_pte() bumps mmu_notifier_seq, 828502d30073) and
    /// AfterYield (where a walk goes on after yielding mmu_lock, 3a0f64de479c) and InvalidSlot
    /// (what a page fault does with a memslot being deleted or moved, e0c378684b65).
    /// Left out, the runtime does what the kernel does.
    /// </summary>
    public static readonly string[][] HistoryKeys = [["SpteWrite"], ["BumpsSequence"], ["AfterYield"], ["InvalidSlot"]];

    /// <summary>The groups of keys without defaults that an operation gives all together or not at all.</summary>
    public static readonly string[][] Groups = [RootKeys, SyncKeys, .. HistoryKeys];

    /// <summary>Whether <paramref name="key"/> belongs to a group, i.e. is left out of operations that do not give it.</summary>
    public static bool IsGrouped(string key) => System.Array.Exists(Groups, g => System.Array.IndexOf(g, key) >= 0);

    /// <summary>The operations the runtime runs: an Operation block must name one of these.</summary>
    public static readonly string[] Operations = Names<MmuOperation>();

    public static readonly Dictionary<string, string> Defaults = new()
    {
        ["Exists"] = "Yes",
        ["Invocation"] = "Standalone",
    };

    private static string[] Names<T>()
        where T : struct, Enum => Enum.GetNames(typeof(T));
}
