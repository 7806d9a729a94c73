using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdx;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Tdp;

// The TDP MMU's paths as concurrent operations (src/Mmu/Concurrency): each yields a Step before
// every action another CPU can observe, so the scheduler can interleave them as the kernel's
// CPUs would. They share the sequential model's tables and helpers (make_spte, the checks of
// handle_changed_spte); what differs is how an SPTE is written: by cmpxchg under the read lock
// (tdp_mmu_set_spte_atomic), by a plain write or xchg under the write lock (tdp_mmu_set_spte).
public sealed partial class TdpMmu
{
    // Tables unlinked on the shared path and not yet freed (being frozen, or waiting for call_rcu()),
    // by table: the checker counts them as live, and Describe() shows them, frozen entries and all.
    private readonly Dictionary<ulong, (ulong BaseGfn, int Level)> _awaitingGracePeriod = [];

    /// <summary>How many times a vCPU re-enters the guest after RET_PF_RETRY before the model gives up (a livelock).</summary>
    public const int MaxConcurrentFaultAttempts = 8;

    /// <summary>
    /// tdp_mmu_set_spte_atomic(): under mmu_lock for read (lockdep_assert_held_read), install
    /// <paramref name="newSpte"/> only if the entry still holds what the walk read
    /// (try_cmpxchg64 in __tdp_mmu_set_spte_atomic). On failure the iterator's OldSpte is
    /// refreshed with what the entry holds now and the caller gets -EBUSY (false); on success
    /// handle_changed_spte(shared = true) runs, and an unlinked table is the caller's to tear down.
    /// </summary>
    internal bool SetSpteAtomic(ConcurrentKvm ctx, ref TdpIter iter, ulong newSpte, string operation)
    {
        ctx.AssertHeld(Policy.MmuLock.Read, $"{operation}: tdp_mmu_set_spte_atomic");
        ctx.CheckNotFreed(iter.SptepTable, operation);

        // __tdp_mmu_set_spte_atomic: "The caller is responsible for ensuring the old SPTE is not a FROZEN SPTE".
        KvmWarn.On(iter.Yielded || iter.OldSpte == Masks.FrozenSpte, $"{operation}: tdp_mmu_set_spte_atomic after a yield or on a frozen SPTE at gfn 0x{iter.Gfn:x}");
        if (iter.Sptep != iter.OldSpte)
        {
            iter.OldSpte = iter.Sptep;
            return false;
        }

        var old = iter.OldSpte;
        iter.Sptep = newSpte;
        iter.OldSpte = newSpte;
        ctx.Changed = true;
        HandleChangedSpte(iter.Gfn, old, newSpte, iter.Level, operation, shared: true);
        return true;
    }

    /// <summary>
    /// tdp_mmu_set_spte() / tdp_mmu_iter_set_spte(): the exclusive write, under mmu_lock for write
    /// (lockdep_assert_held_write). kvm_tdp_mmu_write_spte() uses xchg when the SPTE has bits the
    /// CPU or the fast path may set meanwhile (spte_needs_atomic_update), so the old value it
    /// hands to handle_changed_spte() is what the entry held at the write, not what the walk read.
    /// </summary>
    internal void SetSpteExclusive(ConcurrentKvm ctx, ref TdpIter iter, ulong newSpte, OperationPolicy policy)
    {
        var operation = policy.Name;
        ctx.AssertHeld(Policy.MmuLock.Write, $"{operation}: tdp_mmu_set_spte");
        ctx.CheckNotFreed(iter.SptepTable, operation);
        KvmWarn.On(iter.OldSpte == Masks.FrozenSpte || newSpte == Masks.FrozenSpte, $"{operation}: tdp_mmu_set_spte on or to a frozen SPTE at gfn 0x{iter.Gfn:x}");

        // kvm_tdp_mmu_write_spte(): xchg for a present leaf with volatile bits, else WRITE_ONCE and
        // the walk's old value. Before ba3a6120a4e7 it was always WRITE_ONCE (the policy's
        // SpteWrite WriteOnce), and a D bit the CPU set after the walk's read was lost.
        var current = iter.Sptep;
        var exchange = policy.SpteWrite == VolatileSpteWrite.XchgWhenVolatile
            && TdpWalker.IsShadowPresent(iter.OldSpte) && TdpWalker.IsLastSpte(iter.OldSpte, iter.Level) && Masks.SpteNeedsAtomicUpdate(iter.OldSpte);
        var old = exchange ? current : iter.OldSpte;

        // A may be lost: aging does not flush, and spte_needs_atomic_update() leaves it out.
        if (((old ^ current) & ~Masks.AccessedMask) != 0)
        {
            Kvm.Violate("lost SPTE update", $"{operation}: gfn 0x{iter.Gfn:x} held 0x{current:x} when overwritten, but handle_changed_spte was given 0x{old:x} (the change made outside mmu_lock is lost)");
        }

        iter.Sptep = newSpte;
        iter.OldSpte = newSpte;
        ctx.Changed = true;
        HandleChangedSpte(iter.Gfn, old, newSpte, iter.Level, operation);
    }

    /// <summary>
    /// A vCPU's access to <paramref name="gfn"/> as a concurrent operation: the CPU's walk, and on
    /// an EPT violation kvm_tdp_page_fault() (direct_page_fault): snapshot mmu_invalidate_seq,
    /// resolve the host page, read_lock(mmu_lock), is_page_fault_stale(), then kvm_tdp_mmu_map()
    /// inside rcu_read_lock(); on RET_PF_RETRY the vCPU re-enters the guest and faults again. A
    /// retry because an invalidation covers the GFN waits until no invalidation is in progress:
    /// the faults in between would all be stale and change nothing. From the exit until it
    /// re-enters the guest the vCPU holds kvm->srcu and acts on the memslot it read at the exit.
    /// </summary>
    public IEnumerable<Step> FaultConcurrently(ConcurrentKvm ctx, KvmVcpu vcpu, ulong gfn, AccessKind access)
    {
        var what = $"vCPU {vcpu.Id} {Verb(access)} gfn 0x{gfn:x}";
        var write = access == AccessKind.Write;
        var waitForInvalidation = false;
        var waitForSlotUpdate = false;
        try
        {
            for (var attempt = 0; attempt < MaxConcurrentFaultAttempts; attempt++)
            {
                // A retry on a KVM_MEMSLOT_INVALID slot faults the same way until the memslot
                // update has replaced the slot: the faults in between change nothing, so the
                // vCPU's next fault waits for it (having left kvm->srcu, which the update waits for).
                yield return new Step(
                    "the CPU walks the SPTEs",
                    waitForInvalidation ? () => Kvm.MmuInvalidateInProgress == 0
                    : waitForSlotUpdate ? () => Kvm.FindSlot(gfn) is not { Invalid: true }
                    : null);
                waitForSlotUpdate = false;

                // vcpu_enter_guest() dropped kvm->srcu to enter the guest.
                ctx.Srcu.ReadUnlockIfHeld(ctx.Current);
                if (vcpu.Tlb.TryGetValue(gfn, out var cached) && cached.Allows(access))
                {
                    // The CPU uses what its TLB holds, whatever the SPTE says by now: a zapped SPTE's
                    // translation lives until the zapper's flush.
                    CheckTlbHitConcurrently(vcpu, gfn, cached);
                    if (write)
                    {
                        ctx.GuestWrote(gfn);
                    }

                    Kvm.Log.Add($"{what}: TLB hit, host pfn 0x{cached.Pfn:x}");
                    yield break;
                }

                if (LeafFor(gfn) is { } leaf && Masks.Allows(leaf.Spte, access))
                {
                    // The CPU's A/D assist is an atomic update of the leaf.
                    var spte = HardwareSetAccessedDirty(vcpu, gfn, write);
                    var pfn = TdpWalker.SpteToPfn(spte) + (gfn & (TdpWalker.PagesPerHpage(leaf.Level) - 1));
                    var dirty = !SpteMasks.AdEnabled(spte) || (spte & Masks.DirtyMask) != 0;
                    vcpu.Tlb[gfn] = new TlbEntry(gfn, pfn, SpteMasks.IsWritable(spte), User: true, Masks.IsExecutable(spte), dirty);
                    if (write)
                    {
                        ctx.GuestWrote(gfn);
                    }

                    Kvm.Log.Add($"{what}: done, host pfn 0x{pfn:x}");
                    yield break;
                }

                vcpu.KvmPageFaults++;

                // The exit takes kvm->srcu, and kvm_mmu_do_page_fault() reads the memslot once
                // (fault.slot): the whole fault acts on the slot it read, even one a memslot update
                // has replaced since, until it re-enters the guest (synchronize_srcu waits for that).
                ctx.Srcu.ReadLock(ctx.Current);
                var faultSlot = Kvm.FindSlot(gfn);

                // kvm_tdp_mmu_page_fault(): page_fault_handle_page_track() before anything else, so a
                // write to a present SPTE of a write-tracked gfn takes neither the fast path nor mmu_lock.
                if (PageFaultHandlePageTrack(gfn, access, faultSlot))
                {
                    Kvm.Log.Add($"{what}: page_fault_handle_page_track, RET_PF_WRITE_PROTECTED");
                    foreach (var step in EmulateWriteConcurrently(ctx, vcpu, gfn, what))
                    {
                        yield return step;
                    }

                    yield break;
                }

                // fast_page_fault() next, for a present leaf only (the
                // lockless path cannot install one); RET_PF_FIXED or _SPURIOUS re-enters the guest.
                if (LeafFor(gfn) is not null && faultSlot is { } fastSlot)
                {
                    var fast = new PageFaultResult[1];
                    foreach (var step in FastPageFaultConcurrently(ctx, gfn, access, fastSlot, fast))
                    {
                        yield return step;
                    }

                    if (fast[0] != PageFaultResult.Invalid)
                    {
                        Kvm.Log.Add($"{what}: fast page fault, RET_PF_{Upper(fast[0])}");
                        continue;
                    }
                }

                // kvm_mmu_faultin_pfn(): fault->mmu_seq = kvm->mmu_invalidate_seq; smp_rmb(); then the
                // slot checks. "Retry the page fault if the gfn hit a memslot that is being deleted
                // or moved. This ensures any existing SPTEs for the old memslot will be zapped
                // before KVM inserts a new MMIO SPTE for the gfn": RET_PF_RETRY (mmu.c, since
                // e0c378684b65; -EAGAIN for a prefault, which the model does not run here). Before
                // it (policy TdpPageFault InvalidSlot AsNoSlot) the invalid slot gave
                // KVM_PFN_NOSLOT, and the fault went on as one without a slot: MMIO.
                yield return new Step("kvm_mmu_faultin_pfn: reads mmu_invalidate_seq");
                var mmuSeq = Kvm.MmuInvalidateSeq;
                if (faultSlot is { Invalid: true })
                {
                    if (Kvm.Rules.TdpPageFault.InvalidSlot == InvalidSlotFault.Retry)
                    {
                        Kvm.Log.Add($"{what}: memslot {faultSlot.Id} is KVM_MEMSLOT_INVALID, RET_PF_RETRY");
                        yield return new Step("RET_PF_RETRY: the vCPU re-enters the guest (kvm_vcpu_srcu_read_unlock)");
                        ctx.Srcu.ReadUnlockIfHeld(ctx.Current);
                        waitForSlotUpdate = true;
                        continue;
                    }

                    faultSlot = null;
                }

                if (faultSlot is null)
                {
                    var mmio = new PageFaultResult[1];
                    foreach (var step in NoSlotFaultConcurrently(ctx, gfn, access, mmuSeq, mmio))
                    {
                        yield return step;
                    }

                    Kvm.Log.Add($"{what}: no memslot, RET_PF_{Upper(mmio[0])}");
                    if (mmio[0] == PageFaultResult.Retry)
                    {
                        continue;
                    }

                    // RET_PF_EMULATE: the emulator finds no memslot either and exits to userspace.
                    ctx.Outcomes.Add($"{what}: KVM_EXIT_MMIO");
                    yield break;
                }

                // A write to a read-only slot: __kvm_faultin_pfn gives KVM_PFN_ERR_RO_FAULT, and
                // kvm_handle_error_pfn() RET_PF_EMULATE; the emulator's store to the slot exits to
                // userspace (emulator_read_write_onepage). No SPTE changes.
                var slot = faultSlot;
                if (write && slot.ReadOnly)
                {
                    Kvm.Log.Add($"{what}: KVM_PFN_ERR_RO_FAULT, RET_PF_EMULATE");
                    ctx.Outcomes.Add($"{what}: KVM_EXIT_MMIO (a write to a read-only memslot)");
                    yield break;
                }
                yield return new Step("__kvm_faultin_pfn: resolves the host page");
                if (Kvm.FaultInPfn(slot, gfn, write) is not { } hostPte)
                {
                    Kvm.Log.Add($"{what}: no host page, -EFAULT");
                    yield break;
                }

                yield return new Step("read_lock(mmu_lock)", () => ctx.MmuLock.CanRead, SpinsOnMmuLock: true);
                ctx.MmuLock.Take(ctx.Current, Policy.MmuLock.Read);
                var result = new PageFaultResult[1];

                // is_page_fault_stale(): mmu_invalidate_retry_gfn() under the lock.
                if (Kvm.MmuInvalidateRetryGfn(mmuSeq, gfn))
                {
                    result[0] = PageFaultResult.Retry;
                    waitForInvalidation = true;
                    Kvm.Log.Add($"{what}: is_page_fault_stale (mmu_invalidate_seq {mmuSeq} -> {Kvm.MmuInvalidateSeq}, in progress {Kvm.MmuInvalidateInProgress})");
                }
                else
                {
                    var reqLevel = HugePageAdjust(slot, gfn);
                    var hugePageDisallowed = access == AccessKind.Fetch && Kvm.NxHugePages;
                    var goalLevel = hugePageDisallowed ? 1 : reqLevel;
                    var hostPfn = hostPte.Pfn & ~(TdpWalker.PagesPerHpage(goalLevel) - 1);
                    var fault = new TdpFault(gfn, hostPfn, reqLevel, goalLevel, access, hostPte.Writable, hugePageDisallowed, slot);
                    foreach (var step in MapUnderRcuConcurrently(ctx, fault, result))
                    {
                        yield return step;
                    }
                }

                yield return new Step("read_unlock(mmu_lock)");
                ctx.MmuLock.Release(ctx.Current, Policy.MmuLock.Read);
                Kvm.Log.Add($"{what}: page fault, RET_PF_{Upper(result[0])}");
                if (result[0] == PageFaultResult.WriteProtected)
                {
                    foreach (var step in EmulateWriteConcurrently(ctx, vcpu, gfn, what))
                    {
                        yield return step;
                    }

                    yield break;
                }
            }

            KvmWarn.On(true, $"{what}: still faulting after {MaxConcurrentFaultAttempts} attempts");
        }
        finally
        {
            ctx.Srcu.ReadUnlockIfHeld(ctx.Current);
        }
    }

    /// <summary>
    /// A TLB hit while other operations run: the entry may outlive its SPTE (a zap owes a flush
    /// until it flushes), and that is harmless while the host page is still the one it maps: the
    /// primary MMU changes it only once the invalidation that zapped the SPTE has returned, and
    /// every path flushes before it drops mmu_lock (tdp_mmu_iter_cond_resched's flush, the
    /// notifier's flush before KVM_MMU_UNLOCK). An entry that still maps a host page the primary
    /// MMU has since replaced or unmapped is a translation a flush owed when mmu_lock was dropped
    /// never removed: another thread saw the SPTE non-present, owed no flush, and let the page go.
    /// </summary>
    private void CheckTlbHitConcurrently(KvmVcpu vcpu, ulong gfn, TlbEntry cached)
    {
        var host = Kvm.FindSlot(gfn) is { } slot ? Kvm.Host.Lookup(slot.GfnToHvpn(gfn)) : null;
        if (host?.Pfn != cached.Pfn)
        {
            Kvm.Violate("stale translation", $"vCPU {vcpu.Id} used a TLB entry for gfn 0x{gfn:x} -> host pfn 0x{cached.Pfn:x}, but the primary MMU {(host is null ? "maps nothing there" : $"maps host pfn 0x{host.Value.Pfn:x}")} now");
        }
    }

    /// <summary>
    /// RET_PF_WRITE_PROTECTED in kvm_mmu_page_fault(): kvm_mmu_write_protect_fault() unprotects
    /// and retries only a direct MMU's write to a nested guest's page table
    /// (is_write_to_guest_page_table, which the model has no nested guest to raise), so the write
    /// is emulated: x86_emulate_instruction() stores through kvm_vcpu_write_guest(), which marks
    /// the page dirty (mark_page_dirty_in_slot), and tells page tracking (kvm_page_track_write).
    /// One step, outside mmu_lock: it is ordered against the dirty-log paths only by the page's
    /// dirty bit, which it sets after the store.
    /// </summary>
    private IEnumerable<Step> EmulateWriteConcurrently(ConcurrentKvm ctx, KvmVcpu vcpu, ulong gfn, string what)
    {
        yield return new Step($"x86_emulate_instruction: kvm_vcpu_write_guest to gfn 0x{gfn:x}");
        ctx.GuestWrote(gfn);
        if (Kvm.FindSlot(gfn) is { } slot)
        {
            Kvm.MarkPageDirtyInSlot(slot, gfn);
        }

        TrackWrite(vcpu, gfn << 12);
        Kvm.Log.Add($"{what}: RET_PF_WRITE_PROTECTED, write emulated (x86_emulate_instruction)");
    }

    /// <summary>
    /// fast_page_fault() (mmu.c) on the TDP MMU, without mmu_lock: inside
    /// walk_shadow_page_lockless_begin() (rcu_read_lock), kvm_tdp_mmu_fast_pf_get_last_sptep()
    /// reads the leaf; W comes back if the SPTE is MMU-writable (not for a huge leaf in a
    /// dirty-logged slot), an access-tracked SPTE is restored; fast_pf_fix_direct_spte() installs
    /// it by try_cmpxchg64 and only then, for a W 0 -&gt; 1 change, mark_page_dirty_in_slot() (a
    /// step of its own: another vCPU may write through the new SPTE before the page is marked).
    /// A failed cmpxchg re-reads, at most 4 retries ("++retry_count &gt; 4").
    /// </summary>
    private IEnumerable<Step> FastPageFaultConcurrently(ConcurrentKvm ctx, ulong gfn, AccessKind access, KvmMemorySlot slot, PageFaultResult[] result)
    {
        result[0] = PageFaultResult.Invalid;
        yield return new Step("fast_page_fault: walk_shadow_page_lockless_begin (rcu_read_lock)");
        ctx.Rcu.ReadLock(ctx.Current);
        for (var retry = 0; ; retry++)
        {
            yield return new Step($"kvm_tdp_mmu_fast_pf_get_last_sptep: reads the leaf for gfn 0x{gfn:x}");
            var iter = StartWalk(1, gfn);
            while (iter.Valid && iter.IsPresent && !iter.IsLast && iter.OldSpte != Masks.FrozenSpte)
            {
                ctx.CheckNotFreed(iter.SptepTable, "fast_page_fault");
                iter.Next();
            }

            ctx.CheckNotFreed(iter.SptepTable, "fast_page_fault");
            var spte = iter.OldSpte;
            if (!iter.Valid || iter.Gfn > gfn || !TdpWalker.IsShadowPresent(spte) || spte == Masks.FrozenSpte)
            {
                break;
            }

            if (Masks.Allows(spte, access))
            {
                result[0] = PageFaultResult.Spurious;
                break;
            }

            var newSpte = spte;
            if (!SpteMasks.AdEnabled(spte) && Masks.IsAccessTrack(spte))
            {
                newSpte = Masks.RestoreAccessTrack(spte) | Masks.AccessedMask;
            }

            if (access == AccessKind.Write && Masks.IsMmuWritable(spte))
            {
                newSpte |= SpteMasks.Writable;
                if (iter.Level > 1 && slot.DirtyTracked)
                {
                    break;
                }
            }

            if (newSpte == spte || !Masks.Allows(newSpte, access))
            {
                break;
            }

            yield return new Step($"fast_pf_fix_direct_spte: try_cmpxchg64 the leaf at gfn 0x{gfn:x}");
            ctx.CheckNotFreed(iter.SptepTable, "fast_page_fault");
            if (iter.Sptep == spte)
            {
                iter.Sptep = newSpte;
                ctx.Changed = true;
                if (!SpteMasks.IsWritable(spte) && SpteMasks.IsWritable(newSpte))
                {
                    yield return new Step($"fast_pf_fix_direct_spte: mark_page_dirty_in_slot gfn 0x{gfn:x}");
                    Kvm.MarkPageDirtyInSlot(slot, gfn);
                }

                result[0] = PageFaultResult.Fixed;
                break;
            }

            if (retry >= 4)
            {
                break;
            }
        }

        yield return new Step("fast_page_fault: walk_shadow_page_lockless_end (rcu_read_unlock)");
        ctx.Rcu.ReadUnlock(ctx.Current);
    }

    /// <summary>
    /// clear_dirty_pt_masked() for one bitmap word as a concurrent step sequence, under the lock
    /// the caller took (kvm_get_dirty_log_protect / kvm_clear_dirty_log_protect hold KVM_MMU_LOCK
    /// across their whole word loop, kvm_reset_dirty_gfn across one coalesced mask, around
    /// kvm_arch_mmu_enable_log_dirty_pt_masked): for each 4K leaf of the
    /// mask that has dbit (D with PML, else W: kvm_mmu_write_protect_pt_masked), tdp_mmu_clear_spte_bits(), which
    /// clears it by atomic64_fetch_and when spte_needs_atomic_update() (the CPU may set D, the
    /// fast path W meanwhile) and by WRITE_ONCE of the walk's value otherwise.
    /// </summary>
    public IEnumerable<Step> ClearDirtyPtMaskedConcurrently(ConcurrentKvm ctx, ulong gfn, ulong mask)
    {
        var policy = Rules.ClearDirtyPtMasked;
        ctx.AssertHeld(policy.Lock == Policy.MmuLock.None ? null : policy.Lock, policy.Name);

        // kvm_arch_mmu_enable_log_dirty_pt_masked(): PML re-arms by clearing D (wrprot = false).
        var dbit = ClearDirtyPtMaskedBit(wrprot: !Kvm.EnablePml);
        if (dbit == 0)
        {
            yield break;
        }

        for (var bits = mask; bits != 0; bits &= bits - 1)
        {
            var target = gfn + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bits);
            yield return new Step($"{policy.Name}: reads the leaf for gfn 0x{target:x}");
            var iter = StartWalk(1, target);
            while (iter.Valid && iter.Gfn <= target && !(iter.Level == 1 && iter.Gfn == target))
            {
                iter.Next();
            }

            if (!iter.Valid || iter.Gfn != target || iter.Level != 1 || !iter.IsPresent || !iter.IsLast || (iter.OldSpte & dbit) == 0)
            {
                continue;
            }

            yield return new Step($"tdp_mmu_clear_spte_bits: clears {(dbit == SpteMasks.Writable ? "W" : "D")} at gfn 0x{target:x}");
            ctx.CheckNotFreed(iter.SptepTable, policy.Name);
            var current = iter.Sptep;
            var atomic = policy.SpteWrite == VolatileSpteWrite.XchgWhenVolatile && Masks.SpteNeedsAtomicUpdate(iter.OldSpte);
            if (!atomic && ((current ^ iter.OldSpte) & ~Masks.AccessedMask) != 0)
            {
                Kvm.Violate("lost SPTE update", $"{policy.Name}: gfn 0x{target:x} held 0x{current:x} when W was cleared by WRITE_ONCE of 0x{iter.OldSpte:x}");
            }

            iter.Sptep = (atomic ? current : iter.OldSpte) & ~dbit;
            iter.OldSpte = iter.Sptep;
            ctx.Changed = true;
            Record(policy, target);
        }
    }

    // kvm_tdp_mmu_map() walks inside its own rcu_read_lock(): a table a zap has unlinked is freed
    // only after a grace period (tdp_mmu_free_sp_rcu_callback), so the walk never meets freed memory.
    private IEnumerable<Step> MapUnderRcuConcurrently(ConcurrentKvm ctx, TdpFault fault, PageFaultResult[] result)
    {
        yield return new Step("rcu_read_lock");
        ctx.Rcu.ReadLock(ctx.Current);
        foreach (var step in MapConcurrently(ctx, fault, result))
        {
            yield return step;
        }

        yield return new Step("rcu_read_unlock");
        ctx.Rcu.ReadUnlock(ctx.Current);
    }

    /// <summary>
    /// kvm_tdp_mmu_map() on the shared path: walk to the goal level reading each SPTE, retry on a
    /// frozen one ("if (is_frozen_spte(iter.old_spte)) goto retry"), link a new table or split a
    /// huge page by cmpxchg (tdp_mmu_link_sp / tdp_mmu_split_huge_page with shared = true; on
    /// failure the SP is freed and the fault retries), then tdp_mmu_map_handle_target_level().
    /// </summary>
    private IEnumerable<Step> MapConcurrently(ConcurrentKvm ctx, TdpFault fault, PageFaultResult[] result)
    {
        var gfn = fault.Gfn;
        yield return new Step($"tdp_iter_start: reads the root's SPTE for gfn 0x{gfn:x}");
        var iter = StartWalk(1, gfn);
        while (iter.Valid && iter.Gfn < gfn + 1)
        {
            ctx.CheckNotFreed(iter.SptepTable, "kvm_tdp_mmu_map");
            if (Kvm.NxHugePages)
            {
                DisallowedHugepageAdjust(ref fault, iter.OldSpte, iter.Level);
            }

            if (iter.OldSpte == Masks.FrozenSpte)
            {
                result[0] = PageFaultResult.Retry;
                yield break;
            }

            if (iter.Level == fault.GoalLevel)
            {
                break;
            }

            if (iter.IsPresent && !iter.IsLast)
            {
                yield return new Step($"tdp_iter_next: steps down, reads the {LevelName(iter.Level - 1)} SPTE");
                iter.Next();
                continue;
            }

            var split = iter.IsPresent;
            yield return new Step(split ? $"tdp_mmu_split_huge_page: cmpxchg the {LevelName(iter.Level)} SPTE to a new table" : $"tdp_mmu_link_sp: cmpxchg a new table into the {LevelName(iter.Level)} SPTE");

            // The SP comes from the vCPU's caches and is nobody else's until the cmpxchg publishes it.
            var child = Tables.Alloc(Masks.NonPresentValue);
            if (split)
            {
                var table = Tables[child];
                for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
                {
                    table[i] = Masks.MakeSmall(iter.OldSpte, iter.Level - 1, i, roleExecutable: true, Kvm.NxHugePages);
                }
            }

            if (!SetSpteAtomic(ctx, ref iter, Masks.MakeNonLeaf(child, !AdEnabled), "kvm_tdp_mmu_map"))
            {
                // "tdp_mmu_free_sp(sp); goto retry;"
                Tables.Free(child);
                result[0] = PageFaultResult.Retry;
                yield break;
            }

            if (fault.HugePageDisallowed)
            {
                _nxHugePageDisallowed.Add(child);
                if (fault.ReqLevel >= iter.Level)
                {
                    _possibleNxHugePages.Add(new PossibleNxHugePage(child, iter.Gfn, iter.Level));
                }
            }

            yield return new Step($"tdp_iter_next: steps down, reads the {LevelName(iter.Level - 1)} SPTE");
            iter.Next();
        }

        if (!iter.Valid || iter.Gfn >= gfn + 1)
        {
            // "The walk aborted before reaching the target level, e.g. because the iterator
            // detected an upper level SPTE was frozen during traversal": try_step_down() re-read
            // an entry another vCPU had meanwhile made a leaf, so the walk stepped past the GFN.
            result[0] = PageFaultResult.Retry;
            yield break;
        }

        // tdp_mmu_map_handle_target_level(): the spurious check, make_spte(), the cmpxchg.
        if (iter.IsPresent && iter.IsLast && Masks.Allows(iter.OldSpte, fault.Access))
        {
            KvmWarn.On(fault.Slot is not null && TdpWalker.SpteToPfn(iter.OldSpte) != fault.Pfn, $"spurious fault at gfn 0x{gfn:x} maps a different PFN");
            result[0] = PageFaultResult.Spurious;
            yield break;
        }

        // make_spte() and the cmpxchg are two steps: what make_spte() read (the GFN's write
        // tracking, mmu_try_to_unsync_pages) may change before the cmpxchg, which compares only
        // the SPTE. Everything that tracks a GFN takes mmu_lock for write to close that window.
        // Without a slot: "if (unlikely(!fault->slot)) new_spte = make_mmio_spte(vcpu, iter->gfn,
        // ACC_ALL);" with the memslots' generation, and "If a MMIO SPTE is installed, the MMIO
        // will need to be emulated": RET_PF_EMULATE, installed or already there.
        ulong newSpte;
        var wrprot = false;
        if (fault.Slot is not { } faultSlot)
        {
            yield return new Step($"tdp_mmu_map_handle_target_level: make_mmio_spte for the {LevelName(fault.GoalLevel)} leaf");
            newSpte = Masks.MakeMmio(gfn, (uint)Acc.ACC_ALL, Kvm.MemslotGeneration);
        }
        else
        {
            var access = (uint)Acc.ACC_ALL & (faultSlot.ReadOnly ? ~(uint)Acc.ACC_WRITE_MASK : ~0u);
            yield return new Step($"tdp_mmu_map_handle_target_level: make_spte for the {LevelName(fault.GoalLevel)} leaf");
            (newSpte, wrprot) = MakeSpte(fault.GoalLevel, !AdEnabled, faultSlot, access, gfn, fault.Pfn, iter.OldSpte, prefetch: false, synchronizing: false, fault.HostWritable);
        }

        if (newSpte == iter.OldSpte)
        {
            // tdp_mmu_map_handle_target_level(): "if (wrprot && fault->write) ret =
            // RET_PF_WRITE_PROTECTED;" follows the spurious result, so it overrides it ("If the
            // page fault was caused by a write but the page is write protected, emulation is needed").
            result[0] = fault.Slot is null ? PageFaultResult.Emulate
                : wrprot && fault.Access == AccessKind.Write ? PageFaultResult.WriteProtected : PageFaultResult.Spurious;
            yield break;
        }

        yield return new Step($"tdp_mmu_map_handle_target_level: cmpxchg the {LevelName(fault.GoalLevel)} leaf");
        var old = iter.OldSpte;
        if (!SetSpteAtomic(ctx, ref iter, newSpte, "kvm_tdp_mmu_map"))
        {
            result[0] = PageFaultResult.Retry;
            yield break;
        }

        if (TdpWalker.IsShadowPresent(old) && !TdpWalker.IsLastSpte(old, fault.GoalLevel))
        {
            // A huge leaf replaced a table: handle_removed_pt(shared = true) inside the same
            // tdp_mmu_set_spte_atomic(), then the flush of the GFN's range at this level.
            foreach (var step in HandleRemovedPtShared(ctx, TdpWalker.SpteToPfn(old), iter.Gfn, fault.GoalLevel - 1, "kvm_tdp_mmu_map"))
            {
                yield return step;
            }
        }

        if (TdpWalker.IsShadowPresent(old) && (!TdpWalker.IsLastSpte(old, fault.GoalLevel) || Masks.LeafChangeNeedsFlush(old, newSpte)))
        {
            FlushRemoteTlbs($"kvm_tdp_mmu_map: replaced a present SPTE at gfn 0x{iter.Gfn:x}");
        }

        result[0] = fault.Slot is null ? PageFaultResult.Emulate
            : wrprot && fault.Access == AccessKind.Write ? PageFaultResult.WriteProtected : PageFaultResult.Fixed;
    }

    /// <summary>
    /// A fault on a GFN no memslot holds (kvm_mmu_faultin_pfn -> kvm_handle_noslot_fault): with
    /// MMIO caching and the GFN within the TDP MMU's reach (kvm_mmu_max_gfn) it goes on to
    /// kvm_tdp_mmu_map at 4K, which installs an MMIO SPTE (tdp_mmu_map_handle_target_level:
    /// make_mmio_spte), after is_page_fault_stale() under read_lock(mmu_lock) as any fault;
    /// beyond it KVM emulates without caching (RET_PF_EMULATE).
    /// </summary>
    private IEnumerable<Step> NoSlotFaultConcurrently(ConcurrentKvm ctx, ulong gfn, AccessKind access, ulong mmuSeq, PageFaultResult[] result)
    {
        if (gfn >= TdpWalker.MaxGfnExclusive(RootLevel))
        {
            result[0] = PageFaultResult.Emulate;
            yield break;
        }

        yield return new Step("read_lock(mmu_lock)", () => ctx.MmuLock.CanRead, SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, Policy.MmuLock.Read);
        if (Kvm.MmuInvalidateRetryGfn(mmuSeq, gfn))
        {
            result[0] = PageFaultResult.Retry;
        }
        else
        {
            var fault = new TdpFault(gfn, Pfn: 0, ReqLevel: 1, GoalLevel: 1, access, HostWritable: false, HugePageDisallowed: false, Slot: null);
            foreach (var step in MapUnderRcuConcurrently(ctx, fault, result))
            {
                yield return step;
            }
        }

        yield return new Step("read_unlock(mmu_lock)");
        ctx.MmuLock.Release(ctx.Current, Policy.MmuLock.Read);
    }

    /// <summary>
    /// handle_removed_pt() with shared = true: every entry of the unlinked table is frozen by xchg,
    /// retried while another thread holds it frozen, so a walker that still reaches it (it read the
    /// parent before the unlink) fails its cmpxchg and retries rather than install an SPTE nobody
    /// will zap. Present children are handled (recursively for tables), then the table goes to
    /// call_rcu(tdp_mmu_free_sp_rcu_callback). One step per present entry and one per run of
    /// non-present entries: an xchg commutes with every other thread's access to another entry,
    /// so only its order against accesses to its own entry matters, and a run's xchgs are ordered
    /// against such an access exactly as the run is.
    /// </summary>
    private IEnumerable<Step> HandleRemovedPtShared(ConcurrentKvm ctx, ulong tablePfn, ulong baseGfn, int level, string operation)
    {
        // Unlinked by the caller's cmpxchg in this same step: from now on it waits to be freed.
        _awaitingGracePeriod.Add(tablePfn, (baseGfn, level));
        var table = Tables[tablePfn];
        for (var i = 0; i < TdpWalker.EntriesPerTable;)
        {
            yield return new Step($"handle_removed_pt: xchg FROZEN_SPTE into the {LevelName(level)} table at gfn 0x{baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level)):x}");
            var old = table[i];
            if (old == Masks.FrozenSpte)
            {
                // "for (;;) { old_spte = kvm_tdp_mmu_write_spte_atomic(sptep, FROZEN_SPTE); if (!is_frozen_spte(old_spte)) break; cpu_relax(); }"
                continue;
            }

            if (!TdpWalker.IsShadowPresent(old))
            {
                for (; i < TdpWalker.EntriesPerTable && !TdpWalker.IsShadowPresent(table[i]) && table[i] != Masks.FrozenSpte; i++)
                {
                    table[i] = Masks.FrozenSpte;
                }

                continue;
            }

            table[i] = Masks.FrozenSpte;
            ctx.Changed = true;
            var gfn = baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level));
            HandleChangedSpte(gfn, old, Masks.FrozenSpte, level, operation, shared: true);
            if (!TdpWalker.IsLastSpte(old, level))
            {
                foreach (var step in HandleRemovedPtShared(ctx, TdpWalker.SpteToPfn(old), gfn, level - 1, operation))
                {
                    yield return step;
                }
            }

            i++;
        }

        if (!ctx.FreeThroughRcu)
        {
            _awaitingGracePeriod.Remove(tablePfn);
            ctx.FreedTables.Add(table);
            FreeTable(tablePfn);
            yield break;
        }

        ctx.Rcu.CallRcu($"tdp_mmu_free_sp_rcu_callback 0x{tablePfn:x}", () =>
        {
            _awaitingGracePeriod.Remove(tablePfn);
            ctx.FreedTables.Add(table);
            FreeTable(tablePfn);
        });
    }

    /// <summary>
    /// tdp_mmu_zap_leafs() as a concurrent operation in [start, end) of <paramref name="root"/>: one
    /// step per SPTE read and per zap, each zap by tdp_mmu_iter_set_spte(), which the kernel calls
    /// only under the write lock (lockdep_assert_held_write in tdp_mmu_zap_leafs and
    /// tdp_mmu_set_spte). The caller holds mmu_lock as its own policy says (UnmapGfnRange: the
    /// KVM_MMU_LOCK of kvm_handle_hva_range), and the zap asserts the lock ZapLeafs' policy says,
    /// so either line saying Read shows as the lockdep breach and the races it lets in. Returns (in
    /// <paramref name="flush"/>) whether a flush is owed. At each SPTE it may yield as
    /// tdp_mmu_iter_cond_resched() does when another thread spins on mmu_lock (the policy's Yield:
    /// flush first or not, drop <paramref name="side"/> of the lock and take it again, restart the
    /// walk from the root at the next GFN).
    /// </summary>
    public IEnumerable<Step> ZapLeafsConcurrently(ConcurrentKvm ctx, TdpRoot root, ulong start, ulong end, Policy.MmuLock side, bool[] flush)
    {
        var policy = Rules.ZapLeafs;
        ctx.AssertHeld(policy.Lock == Policy.MmuLock.None ? null : policy.Lock, policy.Name);
        yield return new Step($"{policy.Name}: tdp_iter_start at gfn 0x{start:x}{Of(root)}");
        ctx.Rcu.ReadLock(ctx.Current);

        // Its own iterator, not StartWalk: the faults running beside it walk the valid root.
        for (var iter = TdpIter.Start(Tables, root.TablePfn, RootLevel, 1, start, root.GfnBits); iter.Valid && iter.Gfn < end;)
        {
            if (ShouldYield(ctx, policy, iter, side))
            {
                foreach (var step in IterCondReschedConcurrently(ctx, policy, iter.Gfn, side, flush))
                {
                    yield return step;
                }

                NextAfterYield(ref iter, policy);
                continue;
            }

            ctx.CheckNotFreed(iter.SptepTable, policy.Name);
            if (Visited(policy, iter))
            {
                yield return new Step($"tdp_mmu_iter_set_spte: zaps the {LevelName(iter.Level)} SPTE at gfn 0x{iter.Gfn:x}");
                SetSpteExclusive(ctx, ref iter, Masks.NonPresentValue, policy);
                Record(policy, iter.Gfn);
                flush[0] |= policy.Flush == FlushPolicy.OnChange;
            }

            yield return new Step("tdp_iter_next: reads the next SPTE");
            iter.Next();
        }

        ctx.Rcu.ReadUnlock(ctx.Current);
    }

    /// <summary>
    /// wrprot_gfn_range() (policy WrprotGfnRange), clear_dirty_gfn_range() (ClearDirtyGfnRange) or
    /// write_protect_gfn() (WriteProtectGfn, under the write lock: kvm_tdp_mmu_write_protect_gfn's
    /// lockdep_assert_held_write) in [start, end) of the valid direct root as a concurrent operation, under the lock the
    /// caller took as the policy says (kvm_mmu_slot_remove_write_access and
    /// kvm_mmu_slot_leaf_clear_dirty: read_lock(mmu_lock); kvm_tdp_mmu_wrprot_slot and
    /// kvm_tdp_mmu_clear_dirty_slot: lockdep_assert_held_read). Each present leaf at or above
    /// <paramref name="minLevel"/> with a bit the policy's Changes clear gets its new value by
    /// tdp_mmu_set_spte_atomic(), and a cmpxchg another CPU beat re-reads the entry and tries it
    /// again ("goto retry"); under the write lock (a policy saying Write: the kernels before the
    /// shared path, whose walk used tdp_mmu_set_spte_no_dirty_log) by tdp_mmu_set_spte(). It
    /// yields as tdp_mmu_iter_cond_resched(kvm, &amp;iter, false, true) does, without a flush:
    /// wrprot_gfn_range() at every entry, clear_dirty_gfn_range() at present leaves only (it tests
    /// them first). One step per write: the reads between two writes commute with every other
    /// thread's access to another entry, so they run in the step after the write before them.
    /// <paramref name="changed"/>, if given, says whether an SPTE changed.
    /// </summary>
    public IEnumerable<Step> RewriteLeavesConcurrently(ConcurrentKvm ctx, OperationPolicy policy, ulong start, ulong end, int minLevel, Policy.MmuLock side, bool[]? changed = null)
    {
        ctx.AssertHeld(policy.Lock == Policy.MmuLock.None ? null : policy.Lock, policy.Name);
        var zap = (policy.Changes & SpteChange.Zap) != 0;
        var clear = ClearedBits(policy.Changes);
        var leavesFirst = policy.Operation == MmuOperation.ClearDirtyGfnRange;
        var function = KernelName(policy.Operation);
        yield return new Step($"{function}: rcu_read_lock, tdp_iter_start at gfn 0x{start:x}");
        ctx.Rcu.ReadLock(ctx.Current);
        var flush = new bool[1];
        for (var iter = StartWalk(minLevel, start); iter.Valid && iter.Gfn < end;)
        {
            ctx.CheckNotFreed(iter.SptepTable, policy.Name);
            var leaf = Visited(policy, iter) && iter.Level >= minLevel;
            if ((leaf || !leavesFirst) && ShouldYield(ctx, policy, iter, side))
            {
                foreach (var step in IterCondReschedConcurrently(ctx, policy, iter.Gfn, side, flush))
                {
                    yield return step;
                }

                NextAfterYield(ref iter, policy);
                continue;
            }

            if (!leaf || (!zap && (iter.OldSpte & clear) == 0))
            {
                iter.Next();
                continue;
            }

            var newSpte = zap ? Masks.NonPresentValue : iter.OldSpte & ~clear;
            var old = iter.OldSpte;
            if (side == Policy.MmuLock.Read)
            {
                yield return new Step($"{function}: tdp_mmu_set_spte_atomic on the {LevelName(iter.Level)} SPTE at gfn 0x{iter.Gfn:x}");
                if (!SetSpteAtomic(ctx, ref iter, newSpte, policy.Name))
                {
                    continue;
                }

                // Only under Visits AllLevels: a zapped table is torn down on the shared path.
                if (zap && !TdpWalker.IsLastSpte(old, iter.Level))
                {
                    foreach (var step in HandleRemovedPtShared(ctx, TdpWalker.SpteToPfn(old), iter.Gfn, iter.Level - 1, policy.Name))
                    {
                        yield return step;
                    }
                }
            }
            else
            {
                yield return new Step($"{function}: tdp_mmu_set_spte on the {LevelName(iter.Level)} SPTE at gfn 0x{iter.Gfn:x}");
                SetSpteExclusive(ctx, ref iter, newSpte, policy);
            }

            Record(policy, iter.Gfn);
            if (changed is not null)
            {
                changed[0] = true;
            }

            iter.Next();
        }

        yield return new Step($"{function}: rcu_read_unlock");
        ctx.Rcu.ReadUnlock(ctx.Current);
    }

    /// <summary>
    /// recover_huge_pages_range() (v6.13+) over <paramref name="slot"/> in the valid direct root as
    /// a concurrent operation, under the lock the caller took as policy RecoverHugePages says
    /// (kvm_mmu_recover_huge_pages: read_lock(mmu_lock); kvm_tdp_mmu_recover_huge_pages:
    /// lockdep_assert_held_read). At each table at or above 2M that the slot may map huge
    /// (kvm_mmu_max_mapping_level), tdp_mmu_make_huge_spte() reads the first leaf below it and
    /// make_huge_spte() builds the huge SPTE from it, then tdp_mmu_set_spte_atomic() replaces the
    /// table; the cmpxchg compares the table entry only, so a fault that changed a leaf below it
    /// meanwhile does not stop it, and handle_removed_pt(shared = true) freezes that leaf with the
    /// rest. A cmpxchg another CPU beat re-reads the entry and tries again ("goto retry"), which
    /// finds the leaf that CPU installed and goes on. Under the write lock (a policy saying
    /// Write) the table is replaced by tdp_mmu_set_spte(). It yields as
    /// tdp_mmu_iter_cond_resched(kvm, &amp;iter, flush, true) does, flushing first what it recovered
    /// (Yield FlushFirst), also from inside tdp_mmu_make_huge_spte() (-EAGAIN: "goto retry"), and
    /// flushes the memslot at its end if it recovered one since (kvm_flush_remote_tlbs_memslot,
    /// Flush OnChange). <paramref name="recovered"/> counts the huge pages it recovered.
    /// </summary>
    public IEnumerable<Step> RecoverHugePagesConcurrently(ConcurrentKvm ctx, KvmMemorySlot slot, Policy.MmuLock side, int[] recovered)
    {
        var policy = Rules.RecoverHugePages;
        ctx.AssertHeld(policy.Lock == Policy.MmuLock.None ? null : policy.Lock, policy.Name);
        yield return new Step($"recover_huge_pages_range: rcu_read_lock, tdp_iter_start at gfn 0x{slot.BaseGfn:x}");
        ctx.Rcu.ReadLock(ctx.Current);
        var flush = new bool[1];
        for (var iter = StartWalk(2, slot.BaseGfn); iter.Valid && iter.Gfn < slot.EndGfn;)
        {
            ctx.CheckNotFreed(iter.SptepTable, policy.Name);
            if (ShouldYield(ctx, policy, iter, side))
            {
                foreach (var step in IterCondReschedConcurrently(ctx, policy, iter.Gfn, side, flush))
                {
                    yield return step;
                }

                NextAfterYield(ref iter, policy);
                continue;
            }

            if (iter.Level > TdpWalker.MaxHugePageLevel || !iter.IsPresent || iter.IsLast || iter.Gfn < slot.BaseGfn
                || iter.Gfn + TdpWalker.PagesPerHpage(iter.Level) > slot.EndGfn || HugePageAdjust(slot, iter.Gfn) < iter.Level)
            {
                iter.Next();
                continue;
            }

            // tdp_mmu_make_huge_spte(): the walk below reads other CPUs' entries, so it is a step
            // of its own; the tables it reads are not freed while this walk holds rcu_read_lock.
            yield return new Step($"tdp_mmu_make_huge_spte: reads the first leaf under the {LevelName(iter.Level)} SPTE at gfn 0x{iter.Gfn:x}");
            var child = TdpWalker.SpteToPfn(iter.OldSpte);
            ctx.CheckNotFreed(Tables[child], policy.Name);
            if (ShouldYield(ctx, policy, iter, side))
            {
                continue;
            }

            if (FirstLeafBelow(child, iter.Level - 1) is not { } small)
            {
                iter.Next();
                continue;
            }

            var huge = Masks.MakeHuge(small, iter.Level, Kvm.NxHugePages);
            var table = iter.OldSpte;
            if (side == Policy.MmuLock.Read)
            {
                yield return new Step($"recover_huge_pages_range: tdp_mmu_set_spte_atomic replaces the {LevelName(iter.Level)} table at gfn 0x{iter.Gfn:x} by a huge SPTE");
                if (!SetSpteAtomic(ctx, ref iter, huge, policy.Name))
                {
                    continue;
                }

                foreach (var step in HandleRemovedPtShared(ctx, TdpWalker.SpteToPfn(table), iter.Gfn, iter.Level - 1, policy.Name))
                {
                    yield return step;
                }
            }
            else
            {
                yield return new Step($"recover_huge_pages_range: tdp_mmu_set_spte replaces the {LevelName(iter.Level)} table at gfn 0x{iter.Gfn:x} by a huge SPTE");
                SetSpteExclusive(ctx, ref iter, huge, policy);
            }

            Record(policy, iter.Gfn);
            recovered[0]++;
            flush[0] = true;
            iter.Next();
        }

        if (policy.Flush == FlushPolicy.Always || (policy.Flush == FlushPolicy.OnChange && flush[0]))
        {
            yield return new Step($"recover_huge_pages_range: kvm_flush_remote_tlbs_memslot");
            FlushRemoteTlbs($"dirty logging disabled on memslot {slot.Id}");
        }

        yield return new Step("recover_huge_pages_range: rcu_read_unlock");
        ctx.Rcu.ReadUnlock(ctx.Current);
    }

    /// <summary>
    /// kvm_mmu_slot_try_split_huge_pages() (eager page splitting when logging starts) on the valid
    /// direct root as one step under the caller's lock: tdp_mmu_split_huge_pages_root()'s own
    /// interleaving points (it drops mmu_lock to allocate, links each table by cmpxchg) are not
    /// modelled yet, so other threads see the slot's huge pages all split at once.
    /// </summary>
    public IEnumerable<Step> TrySplitHugePagesAtOnce(ConcurrentKvm ctx, KvmMemorySlot slot)
    {
        var policy = Rules.SplitHugePages;
        yield return new Step("kvm_mmu_slot_try_split_huge_pages: splits the slot's huge pages (in one step)");
        ctx.AssertHeld(policy.Lock == Policy.MmuLock.None ? null : policy.Lock, policy.Name);
        if (TrySplitHugePages(slot, slot.BaseGfn, slot.EndGfn) > 0)
        {
            ctx.Changed = true;
        }
    }

    /// <summary>
    /// tdp_mmu_zap_root() of a direct root (<paramref name="root"/>, valid or invalid) as
    /// kvm_tdp_mmu_zap_all() runs it, under mmu_lock for write, as a concurrent operation: a walk
    /// at the root level only
    /// (min_level == root_level, __tdp_mmu_zap_root), each present entry zapped by
    /// tdp_mmu_iter_set_spte(), which tears its tables down with it (handle_removed_pt). It yields
    /// at the top of each iteration as tdp_mmu_iter_cond_resched() does when another thread spins
    /// on mmu_lock and the walk has made progress, and goes on where the policy's AfterYield says.
    /// One step per zap and per yield: the reads of non-present entries between them are ordered
    /// against no other thread's action (every SPTE write of theirs needs the lock this walk holds),
    /// so they run in the step before. The GFN range under each entry it zapped is added to
    /// <paramref name="zapped"/>; <paramref name="flush"/> says whether a flush is owed.
    /// </summary>
    public IEnumerable<Step> ZapRootConcurrently(ConcurrentKvm ctx, TdpRoot root, Policy.MmuLock side, bool[] flush, List<(ulong Start, ulong End)> zapped)
    {
        var policy = Rules.ZapRoot;
        yield return new Step($"{policy.Name}: tdp_iter_start at the root level{Of(root)}");
        ctx.Rcu.ReadLock(ctx.Current);

        // Its own iterator, not StartWalk: the faults running beside it walk the valid root.
        for (var iter = TdpIter.Start(Tables, root.TablePfn, RootLevel, RootLevel, 0, root.GfnBits); iter.Valid;)
        {
            if (ShouldYield(ctx, policy, iter, side))
            {
                foreach (var step in IterCondReschedConcurrently(ctx, policy, iter.Gfn, side, flush))
                {
                    yield return step;
                }

                NextAfterYield(ref iter, policy);
                continue;
            }

            if (iter.IsPresent)
            {
                yield return new Step($"tdp_mmu_iter_set_spte: zaps the {LevelName(iter.Level)} SPTE at gfn 0x{iter.Gfn:x}");
                ctx.CheckNotFreed(iter.SptepTable, policy.Name);
                var range = (iter.Gfn, iter.Gfn + TdpWalker.PagesPerHpage(iter.Level));
                SetSpteExclusive(ctx, ref iter, Masks.NonPresentValue, policy);
                Record(policy, iter.Gfn);
                zapped.Add(range);
                flush[0] = true;
            }

            iter.Next();
        }

        ctx.Rcu.ReadUnlock(ctx.Current);
    }

    // Which root a walk is in is news only where there is more than one.
    private string Of(TdpRoot root) => Roots.Count > 1 ? $" of the {root}" : "";

    /// <summary>
    /// The roots kvm_tdp_mmu_unmap_gfn_range() walks for <paramref name="caller"/>, as
    /// <see cref="UnmapGfnRange"/> picks them (the spec's UnmapGfnRange RootFilter and
    /// InvalidRoots: tdp_mmu.c adds KVM_INVALID_ROOTS, since a vCPU may still run on a root that
    /// kvm_tdp_mmu_invalidate_roots() marked until it reloads).
    /// </summary>
    public List<TdpRoot> UnmapRoots(UnmapCaller caller)
    {
        var design = UnmapDesign.For(Rules);
        var range = design.CallerRange(Kvm.IsMirrored, caller, null).Range;
        if (range is null)
        {
            return [];
        }

        var decision = design.UnmapRootTypes(Kvm.IsMirrored, range);
        return Roots.Where(r => decision.ZapsRoot(r.Role)).ToList();
    }

    // tdp_mmu_iter_cond_resched()'s test: the walk has made progress since it last yielded
    // (next_last_level_gfn != yielded_gfn, iter.CanYield) and another thread spins on mmu_lock
    // (rwlock_needbreak); a policy without Yield, or a walk the caller runs without the lock, never yields.
    private static bool ShouldYield(ConcurrentKvm ctx, OperationPolicy policy, in TdpIter iter, Policy.MmuLock side) =>
        policy.Yield != YieldPolicy.No && ctx.MmuLockContended && iter.CanYield && side != Policy.MmuLock.None;

    /// <summary>
    /// tdp_mmu_iter_cond_resched() (tdp_mmu.c) once it has decided to yield: kvm_flush_remote_tlbs()
    /// first if the caller's flush argument says a flush is owed (the policy's Yield FlushFirst; a
    /// policy that yields without it leaves the flush owed), then rcu_read_unlock(),
    /// cond_resched_rwlock_read/write() (drop mmu_lock on <paramref name="side"/>, take it again),
    /// rcu_read_lock(). Every caller walks inside rcu_read_lock() (tdp_mmu_zap_leafs, and
    /// tdp_mmu_zap_root around __tdp_mmu_zap_root), so the unlock and lock are the same for all.
    /// </summary>
    private IEnumerable<Step> IterCondReschedConcurrently(ConcurrentKvm ctx, OperationPolicy policy, ulong gfn, Policy.MmuLock side, bool[] flush)
    {
        if (flush[0] && policy.Yield == YieldPolicy.FlushFirst)
        {
            yield return new Step("tdp_mmu_iter_cond_resched: kvm_flush_remote_tlbs before yielding");
            FlushRemoteTlbs($"{policy.Name}: before yielding at gfn 0x{gfn:x}");
            flush[0] = false;
        }

        yield return new Step($"tdp_mmu_iter_cond_resched: rcu_read_unlock, drops mmu_lock at gfn 0x{gfn:x}");
        ctx.Rcu.ReadUnlock(ctx.Current);
        ctx.MmuLock.Release(ctx.Current, side);
        yield return new Step("tdp_mmu_iter_cond_resched: takes mmu_lock again, rcu_read_lock", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        ctx.Rcu.ReadLock(ctx.Current);
    }

    // tdp_iter_next() after a yield: tdp_iter_restart() from the root at next_last_level_gfn
    // (before 3a0f64de479c, then a tdp_iter_next() that advanced past it: policy AfterYield).
    private static void NextAfterYield(ref TdpIter iter, OperationPolicy policy)
    {
        iter.Yield();
        iter.Next();
        if (policy.AfterYield == YieldRestart.RestartThenAdvance)
        {
            iter.Next();
        }
    }

    /// <summary>
    /// kvm_tdp_mmu_age_gfn_range() (clear_young) on the valid direct root as a concurrent
    /// operation: __kvm_tdp_mmu_age_gfn_range walks under rcu_read_lock() only (policy AgeGfnRange,
    /// Lock None), and kvm_tdp_mmu_age_spte() clears A with an atomic AND
    /// (tdp_mmu_clear_spte_bits_atomic) or, A/D disabled, marks the SPTE for access tracking by
    /// cmpxchg, which "is safe to fail". The lock the policy names, if any, is taken around it.
    /// </summary>
    public IEnumerable<Step> AgeConcurrently(ConcurrentKvm ctx, ulong start, ulong end)
    {
        var policy = Rules.AgeGfnRange;
        var side = policy.Lock;
        if (side != Policy.MmuLock.None)
        {
            yield return new Step($"{policy.Name}: takes mmu_lock for {side.ToString().ToLowerInvariant()}", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
            ctx.MmuLock.Take(ctx.Current, side);
        }

        yield return new Step("rcu_read_lock");
        ctx.Rcu.ReadLock(ctx.Current);
        yield return new Step($"{policy.Name}: tdp_iter_start at gfn 0x{start:x}");
        for (var iter = StartWalk(1, start); iter.Valid && iter.Gfn < end;)
        {
            ctx.CheckNotFreed(iter.SptepTable, policy.Name);
            if (Visited(policy, iter) && Masks.IsAccessed(iter.OldSpte))
            {
                yield return new Step($"kvm_tdp_mmu_age_spte: {(SpteMasks.AdEnabled(iter.OldSpte) ? "atomic AND clears A" : "cmpxchg marks for access tracking")} at gfn 0x{iter.Gfn:x}");
                ctx.CheckNotFreed(iter.SptepTable, policy.Name);
                if (SpteMasks.AdEnabled(iter.OldSpte))
                {
                    // The AND acts on what the entry holds now, which may be another SPTE or none.
                    iter.OldSpte = iter.Sptep;
                    if (TdpWalker.IsShadowPresent(iter.OldSpte) && iter.OldSpte != Masks.FrozenSpte)
                    {
                        iter.Sptep = iter.OldSpte & ~Masks.AccessedMask;
                        ctx.Changed = true;
                    }
                }
                else if (iter.Sptep == iter.OldSpte)
                {
                    iter.Sptep = Masks.MarkForAccessTrack(iter.OldSpte);
                    ctx.Changed = true;
                }

                Record(policy, iter.Gfn);
            }

            yield return new Step("tdp_iter_next: reads the next SPTE");
            iter.Next();
        }

        yield return new Step("rcu_read_unlock");
        ctx.Rcu.ReadUnlock(ctx.Current);
        if (side != Policy.MmuLock.None)
        {
            yield return new Step($"{policy.Name}: releases mmu_lock");
            ctx.MmuLock.Release(ctx.Current, side);
        }
    }
}
