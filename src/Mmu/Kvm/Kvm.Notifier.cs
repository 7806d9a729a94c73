using SpecKit.Mmu.Host;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdx;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>mmu_invalidate_seq: bumped at the end of every invalidation.</summary>
    public ulong MmuInvalidateSeq { get; internal set; }

    /// <summary>mmu_invalidate_in_progress.</summary>
    public long MmuInvalidateInProgress { get; private set; }

    public ulong MmuInvalidateRangeStart { get; private set; } = InvalidGpa;

    public ulong MmuInvalidateRangeEnd { get; private set; } = InvalidGpa;

    /// <summary>mn_active_invalidate_count: invalidations between range_start and range_end, memslots or not.</summary>
    private int _mnActiveInvalidateCount;

    /// <summary>
    /// Whether an invalidation is between range_start and range_end: kvm_swap_active_memslots()
    /// waits until none is ("Do not store the new memslots while there are invalidations in
    /// progress"), so the range an invalidation began with is the one it ends with.
    /// </summary>
    internal bool MnInvalidationsActive => _mnActiveInvalidateCount != 0;

    /// <summary>kvm_mmu_notifier_invalidate_range_start(): mn_active_invalidate_count++ under mn_invalidate_lock, before anything else.</summary>
    internal void MnActiveInvalidateStart() => _mnActiveInvalidateCount++;

    /// <summary>kvm_mmu_notifier_invalidate_range_end(): mn_active_invalidate_count-- last, which wakes a waiting memslot update.</summary>
    internal void MnActiveInvalidateEnd()
    {
        KvmWarn.On(_mnActiveInvalidateCount == 0, "invalidate_range_end without a range_start");
        _mnActiveInvalidateCount--;
    }

    /// <summary>The user page behind <paramref name="gfn"/> (__gfn_to_hva_memslot), or null when no memslot holds it.</summary>
    public ulong? UserPage(ulong gfn) => FindSlot(gfn) is { } slot ? slot.GfnToHvpn(gfn) : null;

    /// <summary>
    /// kvm_handle_hva_range(): the memslots whose userspace range overlaps user pages [start, end),
    /// each with the GFNs the overlap covers (hva_to_gfn_memslot), in memslot order.
    /// </summary>
    private List<(KvmMemorySlot Slot, ulong Start, ulong End)> GfnRanges(ulong start, ulong end)
    {
        var ranges = new List<(KvmMemorySlot, ulong, ulong)>();
        foreach (var slot in Memslots)
        {
            var first = Math.Max(start, slot.UserspacePage);
            var last = Math.Min(end, slot.UserspacePage + slot.Npages);
            if (first < last)
            {
                ranges.Add((slot, slot.BaseGfn + (first - slot.UserspacePage), slot.BaseGfn + (last - slot.UserspacePage)));
            }
        }

        return ranges;
    }

    /// <summary>
    /// kvm_mmu_notifier_invalidate_range_start() for user pages [start, end): count the
    /// invalidation (mn_active_invalidate_count); for each memslot the range touches, the first
    /// found begins the invalidation under mmu_lock (kvm_mmu_invalidate_begin), each widens the
    /// range (kvm_mmu_invalidate_range_add) and zaps its GFNs (kvm_unmap_gfn_range, an HVA
    /// notifier's range: shared memory only); then one flush if anything was zapped.
    /// </summary>
    public void InvalidateRangeStart(ulong start, ulong end, string why)
    {
        MnActiveInvalidateStart();
        var ranges = GfnRanges(start, end);
        if (ranges.Count == 0)
        {
            Log.Add($"invalidate_range_start {Pages(start, end)} ({why}): no memslot, nothing to do");
            return;
        }

        MmuInvalidateBegin($"invalidate_range_start {Pages(start, end)} ({why})");
        var flush = false;
        foreach (var (_, gfnStart, gfnEnd) in ranges)
        {
            MmuInvalidateRangeAdd(gfnStart, gfnEnd);
            flush = Mmu.UnmapGfnRange(gfnStart, gfnEnd, UnmapCaller.HvaNotifier, null, flush);
        }

        if (flush)
        {
            FlushRemoteTlbs("invalidate_range_start");
        }
    }

    /// <summary>
    /// kvm_mmu_notifier_invalidate_range_end(): where a memslot is touched, end the invalidation
    /// (seq++ then in_progress--), then drop mn_active_invalidate_count; accesses that waited run.
    /// </summary>
    public void InvalidateRangeEnd(ulong start, ulong end)
    {
        if (GfnRanges(start, end).Count > 0)
        {
            MmuInvalidateEnd($"invalidate_range_end {Pages(start, end)}");
        }

        MnActiveInvalidateEnd();
    }

    /// <summary>kvm_mmu_invalidate_begin(): count up; the first invalidation resets the range.</summary>
    internal void MmuInvalidateBegin(string what)
    {
        MmuInvalidateInProgress++;
        if (MmuInvalidateInProgress == 1)
        {
            MmuInvalidateRangeStart = MmuInvalidateRangeEnd = InvalidGpa;
        }

        Log.Add($"{what}: in progress {MmuInvalidateInProgress}");
    }

    /// <summary>kvm_mmu_invalidate_range_add(): ranges only widen until every invalidation has ended.</summary>
    internal void MmuInvalidateRangeAdd(ulong start, ulong end)
    {
        var (oldStart, oldEnd) = (MmuInvalidateRangeStart, MmuInvalidateRangeEnd);
        MmuInvalidateRangeStart = MmuInvalidateRangeStart == InvalidGpa ? start : Math.Min(MmuInvalidateRangeStart, start);
        MmuInvalidateRangeEnd = MmuInvalidateRangeEnd == InvalidGpa ? end : Math.Max(MmuInvalidateRangeEnd, end);
        RecordLeavesUnderInvalidation(oldStart, oldEnd);
    }

    /// <summary>kvm_mmu_invalidate_end(): seq++ then in_progress--, and the accesses that waited run.</summary>
    internal void MmuInvalidateEnd(string what)
    {
        MmuInvalidateSeq++;
        MmuInvalidateInProgress--;
        KvmWarn.On(MmuInvalidateInProgress < 0, "kvm_mmu_invalidate_end: in_progress went negative");
        Log.Add($"{what}: seq {MmuInvalidateSeq}, in progress {MmuInvalidateInProgress}");
        if (MmuInvalidateInProgress == 0)
        {
            ForgetLeavesUnderInvalidation();
        }

        while (MmuInvalidateInProgress == 0 && _afterInvalidation.TryDequeue(out var access))
        {
            access();
        }
    }

    /// <summary>vCPU accesses that hit RET_PF_RETRY because an invalidation covered their GFN.</summary>
    private readonly Queue<Action> _afterInvalidation = new();

    /// <summary>mmu_invalidate_retry_gfn(): must a fault that sampled <paramref name="seq"/> retry?</summary>
    public bool MmuInvalidateRetryGfn(ulong seq, ulong gfn)
    {
        if (MmuInvalidateInProgress != 0)
        {
            KvmWarn.On(MmuInvalidateRangeStart == InvalidGpa, "mmu_invalidate_retry_gfn: in progress without a range");
            if (gfn >= MmuInvalidateRangeStart && gfn < MmuInvalidateRangeEnd)
            {
                return true;
            }
        }

        return seq != MmuInvalidateSeq;
    }

    /// <summary>A fault that must wait for the invalidation to end: the vCPU runs the access again then.</summary>
    internal void RetryAfterInvalidation(Action access) => _afterInvalidation.Enqueue(access);

    /// <summary>
    /// .change_pte() as the model's policy has it: gone (v6.10+), always inside an invalidation
    /// (after 6bdb913f0a70, asserting the count is elevated as c13fda237f08 does), or standalone
    /// (before it: update in place and bump the sequence). Each memslot over the page gets it.
    /// </summary>
    private void ChangePte(ulong hvpn, HostPte pte)
    {
        var policy = Rules.ChangePte;
        if (!policy.Exists)
        {
            return;
        }

        if (policy.Invocation == Invocation.InsideInvalidation)
        {
            KvmWarn.On(_mnActiveInvalidateCount == 0, "kvm_mmu_notifier_change_pte: notifier count not elevated");
        }

        foreach (var (_, gfn, _) in GfnRanges(hvpn, hvpn + 1))
        {
            var changed = Mmu.SetSpteGfn(gfn, pte.Pfn, pte.Writable);
            Log.Add($"change_pte gfn 0x{gfn:x} -> host pfn 0x{pte.Pfn:x}: {(changed ? "SPTE updated in place" : "no present SPTE, nothing to do")}");
        }

        if (policy.Invocation == Invocation.Standalone && policy.BumpsSequence)
        {
            MmuInvalidateSeq++;
        }
    }

    /// <summary>
    /// The primary MMU replaces the host PTE of user page <paramref name="hvpn"/>, telling KVM the
    /// way the mm of this model's kernel does: set_pte_at_notify() (change_pte) inside or without
    /// an invalidation, or (v6.10+) only invalidate_range_start/end around a plain set_pte_at().
    /// The new page is made (<paramref name="makeNew"/> copies the contents) once the old
    /// mapping is invalidated, as try_to_migrate() and KSM's replace_page() do: a guest write
    /// through a translation that outlived the invalidation is lost with the old page.
    /// </summary>
    private void ChangeHostPte(ulong hvpn, Func<HostPte> makeNew, string why)
    {
        var changePte = Rules.ChangePte;
        if (changePte.Exists && changePte.Invocation == Invocation.Standalone)
        {
            var pte = makeNew();
            Host.Set(hvpn, pte);
            ChangePte(hvpn, pte);
            return;
        }

        InvalidateRangeStart(hvpn, hvpn + 1, why);
        var replacement = makeNew();
        Host.Set(hvpn, replacement);
        if (changePte.Exists)
        {
            ChangePte(hvpn, replacement);
        }

        InvalidateRangeEnd(hvpn, hvpn + 1);
    }

    /// <summary>
    /// KSM merges user page <paramref name="hvpn"/> into a shared, read-only, copy-on-write page
    /// with the same contents. Nothing to merge where the page is not mapped.
    /// </summary>
    public void KsmMerge(ulong hvpn)
    {
        if (Host.Lookup(hvpn) is not { } old)
        {
            Log.Add($"KSM merge of user page 0x{hvpn:x}: not mapped, nothing to merge");
            return;
        }

        Host.CopyOnWrite.Add(hvpn);
        ChangeHostPte(hvpn, () => Host.CopyOf(old, writable: false), "KSM merge");
    }

    /// <summary>A write to a copy-on-write page breaks the sharing: a writable copy replaces it (wp_page_copy).</summary>
    private void BreakCow(ulong hvpn)
    {
        var old = Host.Lookup(hvpn)!.Value;
        Host.CopyOnWrite.Remove(hvpn);
        ChangeHostPte(hvpn, () => Host.CopyOf(old, writable: true), "copy-on-write break");
    }

    /// <summary>
    /// Page migration of user pages [start, end) (try_to_migrate, remove_migration_pte): one
    /// invalidation around the whole folio, then the data is copied to new host pages. It never
    /// used set_pte_at_notify(), so .change_pte() plays no part, whatever the model. Pages that
    /// are not mapped are not migrated.
    /// </summary>
    public void Migrate(ulong start, ulong end)
    {
        var old = new List<(ulong Hvpn, HostPte Pte)>();
        for (var hvpn = start; hvpn < end; hvpn++)
        {
            if (Host.Lookup(hvpn) is { } pte)
            {
                old.Add((hvpn, pte));
            }
        }

        InvalidateRangeStart(start, end, "migration");
        foreach (var (hvpn, pte) in old)
        {
            Host.Set(hvpn, Host.CopyOf(pte, pte.Writable));
        }

        InvalidateRangeEnd(start, end);
    }

    /// <summary>Swap-out of user pages [start, end): one invalidation, then the host PTEs are gone until the next host fault.</summary>
    public void SwapOut(ulong start, ulong end)
    {
        InvalidateRangeStart(start, end, "swap-out");
        for (var hvpn = start; hvpn < end; hvpn++)
        {
            Host.SwapOut(hvpn);
        }

        InvalidateRangeEnd(start, end);
    }

    /// <summary>munmap of user pages [start, end): like a swap-out for KVM's SPTEs, but the VMA is gone, so faults cannot bring pages back.</summary>
    public void Munmap(ulong start, ulong end)
    {
        InvalidateRangeStart(start, end, "munmap");
        Host.Munmap(start, end);
        ForgetStores(start, end);
        InvalidateRangeEnd(start, end);
    }

    /// <summary>mprotect(PROT_READ) of user page <paramref name="hvpn"/>: the host PTE stays but loses write permission.</summary>
    public void MprotectReadOnly(ulong hvpn) => Mprotect(hvpn, SpecKit.Uapi.Prot.Read);

    /// <summary>
    /// mprotect() of user page <paramref name="hvpn"/>: change_protection() brackets every change
    /// of rights, up or down, with an MMU notifier invalidation (MMU_NOTIFY_PROTECTION_VMA), so
    /// KVM zaps the SPTEs and faults again under the new rights.
    /// </summary>
    public void Mprotect(ulong hvpn, SpecKit.Uapi.Prot prot)
    {
        var what = prot == SpecKit.Uapi.Prot.Read ? "mprotect read-only" : $"mprotect {(prot == SpecKit.Uapi.Prot.None ? "PROT_NONE" : "read-write")}";
        InvalidateRangeStart(hvpn, hvpn + 1, what);
        Host.Mprotect(hvpn, prot);
        InvalidateRangeEnd(hvpn, hvpn + 1);
    }

    /// <summary>
    /// clear_young / clear_flush_young / test_young for user pages [start, end)
    /// (kvm_age_hva_range): for each memslot over them, kvm_age_gfn() or kvm_test_age_gfn(). KVM
    /// x86 omits the flush even for clear_flush_young (CONFIG_KVM_ELIDE_TLB_FLUSH_IF_YOUNG), and
    /// the page is never marked accessed (seed 001).
    /// </summary>
    public bool Age(ulong start, ulong end, AgingNotifier notifier)
    {
        var young = false;
        foreach (var (_, gfnStart, gfnEnd) in GfnRanges(start, end))
        {
            young |= Mmu.AgeGfnRange(gfnStart, gfnEnd, testOnly: notifier == AgingNotifier.TestYoung);
        }

        Log.Add($"{notifier.Name()} {Pages(start, end)}: {(young ? "young" : "old")}");
        return young;
    }

    /// <summary>User pages in the log: by the GFNs they back where one memslot holds them all, else as user pages.</summary>
    private string Pages(ulong start, ulong end)
    {
        var ranges = GfnRanges(start, end);
        return ranges.Count == 1 && ranges[0].End - ranges[0].Start == end - start
            ? $"[0x{ranges[0].Start:x}, 0x{ranges[0].End:x})"
            : $"user pages [0x{start:x}, 0x{end:x})";
    }
}

/// <summary>The MMU notifier's aging callbacks (struct mmu_notifier_ops).</summary>
public enum AgingNotifier
{
    ClearYoung,
    ClearFlushYoung,
    TestYoung,
}

public static class AgingNotifiers
{
    /// <summary>The callback's name in mmu_notifier_ops: clear_young, clear_flush_young, test_young.</summary>
    public static string Name(this AgingNotifier notifier) => notifier switch
    {
        AgingNotifier.ClearFlushYoung => "clear_flush_young",
        AgingNotifier.TestYoung => "test_young",
        _ => "clear_young",
    };
}
