using SpecKit.Mmu.Host;
using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>mmu_invalidate_seq: bumped at the end of every invalidation.</summary>
    public ulong MmuInvalidateSeq { get; private set; }

    /// <summary>mmu_invalidate_in_progress.</summary>
    public long MmuInvalidateInProgress { get; private set; }

    public ulong MmuInvalidateRangeStart { get; private set; } = InvalidGpa;

    public ulong MmuInvalidateRangeEnd { get; private set; } = InvalidGpa;

    /// <summary>
    /// kvm_mmu_notifier_invalidate_range_start(): begin (count up, reset the range when first),
    /// widen the range, zap the leaves (kvm_unmap_gfn_range) and flush if anything was zapped.
    /// </summary>
    public void InvalidateRangeStart(ulong start, ulong end, string why)
    {
        if (!Memslots.Any(s => s.BaseGfn < end && start < s.BaseGfn + s.Npages))
        {
            Log.Add($"invalidate_range_start [0x{start:x}, 0x{end:x}) ({why}): no memslot, nothing to do");
            return;
        }

        InvalidateBegin(start, end, $"invalidate_range_start [0x{start:x}, 0x{end:x}) ({why})");

        // An HVA carries only shared memory: a private page has no userspace mapping (KVM_FILTER_SHARED).
        if (UnmapGfnRange(start, end, Tdx.UnmapCaller.HvaNotifier, null))
        {
            FlushRemoteTlbs("invalidate_range_start");
        }
    }

    /// <summary>kvm_mmu_invalidate_begin() and kvm_mmu_invalidate_range_add(): count up, and widen the range.</summary>
    private void InvalidateBegin(ulong start, ulong end, string what)
    {
        MmuInvalidateInProgress++;
        if (MmuInvalidateInProgress == 1)
        {
            MmuInvalidateRangeStart = MmuInvalidateRangeEnd = InvalidGpa;
        }

        // Ranges only widen until every invalidation has ended.
        MmuInvalidateRangeStart = MmuInvalidateRangeStart == InvalidGpa ? start : Math.Min(MmuInvalidateRangeStart, start);
        MmuInvalidateRangeEnd = MmuInvalidateRangeEnd == InvalidGpa ? end : Math.Max(MmuInvalidateRangeEnd, end);
        Log.Add($"{what}: in progress {MmuInvalidateInProgress}");
    }

    /// <summary>kvm_mmu_notifier_invalidate_range_end(): seq++ then in_progress--.</summary>
    public void InvalidateRangeEnd(ulong start, ulong end)
    {
        if (!Memslots.Any(s => s.BaseGfn < end && start < s.BaseGfn + s.Npages))
        {
            return;
        }

        InvalidateEnd(start, end, "invalidate_range_end");
    }

    /// <summary>kvm_mmu_invalidate_end(): seq++ then in_progress--, and the accesses that waited run.</summary>
    private void InvalidateEnd(ulong start, ulong end, string what)
    {
        MmuInvalidateSeq++;
        MmuInvalidateInProgress--;
        KvmWarn.On(MmuInvalidateInProgress < 0, "kvm_mmu_invalidate_end: in_progress went negative");
        Log.Add($"{what} [0x{start:x}, 0x{end:x}): seq {MmuInvalidateSeq}, in progress {MmuInvalidateInProgress}");
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

    /// <summary>
    /// .change_pte() as the model's policy has it: gone (v6.10+), always inside an invalidation
    /// (after 6bdb913f0a70, asserting the count is elevated as c13fda237f08 does), or standalone
    /// (before it: update in place and bump the sequence).
    /// </summary>
    private void ChangePte(ulong gfn, HostPte pte)
    {
        var policy = Rules.ChangePte;
        if (!policy.Exists)
        {
            return;
        }

        if (policy.Invocation == Invocation.InsideInvalidation)
        {
            KvmWarn.On(MmuInvalidateInProgress == 0, "kvm_mmu_notifier_change_pte: notifier count not elevated");
        }

        var changed = Mmu.SetSpteGfn(gfn, pte.Pfn, pte.Writable);
        Log.Add($"change_pte gfn 0x{gfn:x} -> host pfn 0x{pte.Pfn:x}: {(changed ? "SPTE updated in place" : "no present SPTE, nothing to do")}");
        if (policy.Invocation == Invocation.Standalone)
        {
            MmuInvalidateSeq++;
        }
    }

    /// <summary>
    /// The primary MMU replaces the host PTE for <paramref name="gfn"/>, telling KVM the way the mm
    /// of this model's kernel does: set_pte_at_notify() (change_pte) inside or without an
    /// invalidation, or (v6.10+) only invalidate_range_start/end around a plain set_pte_at().
    /// The new page is made (<paramref name="makeNew"/> copies the contents) once the old
    /// mapping is invalidated, as try_to_migrate() and KSM's replace_page() do: a guest write
    /// through a translation that outlived the invalidation is lost with the old page.
    /// </summary>
    public void ChangeHostPte(ulong gfn, Func<HostPte> makeNew, string why)
    {
        var changePte = Rules.ChangePte;
        if (changePte.Exists && changePte.Invocation == Invocation.Standalone)
        {
            var pte = makeNew();
            Host.Set(gfn, pte);
            ChangePte(gfn, pte);
            return;
        }

        InvalidateRangeStart(gfn, gfn + 1, why);
        var replacement = makeNew();
        Host.Set(gfn, replacement);
        if (changePte.Exists)
        {
            ChangePte(gfn, replacement);
        }

        InvalidateRangeEnd(gfn, gfn + 1);
    }

    /// <summary>KSM merges the page behind <paramref name="gfn"/> into a shared, read-only, copy-on-write page with the same contents.</summary>
    public void KsmMerge(ulong gfn)
    {
        var old = HostPage(gfn);
        Host.CopyOnWrite.Add(gfn);
        ChangeHostPte(gfn, () => Host.CopyOf(old, writable: false), "KSM merge");
    }

    /// <summary>A write to a copy-on-write page breaks the sharing: a writable copy replaces it.</summary>
    public void BreakCow(ulong gfn)
    {
        var old = HostPage(gfn);
        Host.CopyOnWrite.Remove(gfn);
        ChangeHostPte(gfn, () => Host.CopyOf(old, writable: true), "copy-on-write break");
    }

    /// <summary>
    /// Page migration (try_to_migrate, remove_migration_pte): one invalidation around the whole
    /// folio, then the data is copied to new host pages. It never used set_pte_at_notify(), so
    /// .change_pte() plays no part, whatever the model.
    /// </summary>
    public void Migrate(ulong start, ulong end)
    {
        var old = Enumerable.Range(0, (int)(end - start)).Select(i => HostPage(start + (ulong)i)).ToList();
        InvalidateRangeStart(start, end, "migration");
        for (var i = 0; i < old.Count; i++)
        {
            Host.Set(start + (ulong)i, Host.CopyOf(old[i], old[i].Writable));
        }

        InvalidateRangeEnd(start, end);
    }

    public void Migrate(ulong gfn) => Migrate(gfn, gfn + 1);

    private HostPte HostPage(ulong gfn) => Host.Lookup(gfn) ?? throw new InvalidOperationException($"gfn 0x{gfn:x} has no host page");

    /// <summary>Swap-out of [start, end): one invalidation, then the host PTEs are gone until the next host fault.</summary>
    public void SwapOut(ulong start, ulong end) => DropHostPages(start, end, "swap-out", vmaGone: false);

    /// <summary>munmap of [start, end): like a swap-out for KVM's SPTEs, but the VMA is gone, so faults cannot bring pages back.</summary>
    public void Munmap(ulong start, ulong end) => DropHostPages(start, end, "munmap", vmaGone: true);

    private void DropHostPages(ulong start, ulong end, string why, bool vmaGone)
    {
        InvalidateRangeStart(start, end, why);
        for (var gfn = start; gfn < end; gfn++)
        {
            if (vmaGone)
            {
                Host.Set(gfn, null);
                Host.Unmapped.Add(gfn);
            }
            else
            {
                Host.SwapOut(gfn);
            }
        }

        InvalidateRangeEnd(start, end);
    }

    /// <summary>mprotect(PROT_READ): the host PTE stays but loses write permission.</summary>
    public void MprotectReadOnly(ulong gfn)
    {
        var pte = HostPage(gfn);
        InvalidateRangeStart(gfn, gfn + 1, "mprotect read-only");
        Host.Set(gfn, pte with { Writable = false });
        InvalidateRangeEnd(gfn, gfn + 1);
    }

    /// <summary>clear_young / clear_flush_young / test_young: never mark the page accessed (seed 001), flush per policy.</summary>
    /// <remarks>
    /// The roots come from the AgeGfnRange policy: the HVA notifier's KVM_FILTER_SHARED, valid
    /// roots only (kvm_tdp_mmu_age_gfn_range), so an invalid root is never aged.
    /// </remarks>
    public bool Age(ulong start, ulong end, string notifier)
    {
        var types = Tdx.TdpMmuRoots.AgeRootTypes(Rules, IsMirrored, Tdx.KvmGfnRangeFilter.Shared);
        var young = false;
        foreach (var root in Mmu.Roots.Where(r => Tdx.TdpMmuRoots.RootMatch(r.Role, types)).ToList())
        {
            young |= Mmu.On(root, () => Mmu.AgeGfnRange(start, end, testOnly: notifier == "test_young"));
        }

        Log.Add($"{notifier} [0x{start:x}, 0x{end:x}): {(young ? "young" : "old")}");
        return young;
    }
}
