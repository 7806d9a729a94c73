using SpecKit.Uapi;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Host;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Shadow;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.Tdx;

namespace SpecKit.Mmu.Concurrency;

/// <summary>
/// The concurrent operations a scenario can run together, each as the kernel function it models,
/// taking mmu_lock as its operation's policy says (<see cref="MmuRules"/>), and the checks made
/// when all are done.
/// </summary>
public static partial class Operations
{
    /// <summary>A vCPU's access, faulting as kvm_tdp_page_fault() does (TDP MMU only).</summary>
    public static ConcurrentThread Access(ConcurrentKvm ctx, KvmVcpu vcpu, ulong gfn, AccessKind access) =>
        new($"vCPU {vcpu.Id}", AsRunning(ctx, vcpu, Tdp(ctx).FaultConcurrently(ctx, vcpu, gfn, access)));

    // Each step of a vCPU's thread runs as that vCPU (vcpu_load: kvm_get_running_vcpu() is it),
    // so mark_page_dirty_in_slot() pushes to its own ring (kvm_main.c: "if (kvm->dirty_ring_size
    // && vcpu) kvm_dirty_ring_push(vcpu, ...)").
    private static IEnumerable<Step> AsRunning(ConcurrentKvm ctx, KvmVcpu vcpu, IEnumerable<Step> steps)
    {
        using var e = steps.GetEnumerator();
        while (true)
        {
            bool more;
            using (ctx.Kvm.AsRunning(vcpu))
            {
                more = e.MoveNext();
            }

            if (!more)
            {
                yield break;
            }

            yield return e.Current;
        }
    }

    /// <summary>
    /// Under shadow paging, a vCPU's guest access to <paramref name="gva"/> that may exit to KVM
    /// (ShadowMmu.AccessConcurrently: FNAME(page_fault), the #PF KVM injects); a store writes
    /// <paramref name="value"/>. What it came to is the thread's outcome.
    /// </summary>
    public static ConcurrentThread ShadowAccess(ConcurrentKvm ctx, KvmVcpu vcpu, ulong gva, Guest.GuestAccess access, Func<ulong> value, string? what = null, GuestAccessResult[]? outcome = null) =>
        new($"vCPU {vcpu.Id}", ShadowAccessSteps(ctx, vcpu, gva, access, value, what ?? $"{access} to 0x{gva:x}", outcome ?? new GuestAccessResult[1]));

    /// <summary>
    /// Seed 004's race: <paramref name="vcpu"/>'s access to <paramref name="gva"/> (storing
    /// <paramref name="value"/> if a write) while <paramref name="other"/> sets
    /// <paramref name="flags"/> in its gPTE at <paramref name="level"/> for <paramref name="target"/>;
    /// the access's result lands in <paramref name="outcome"/>. The behaviour steps and the
    /// explorer run it from the same two threads.
    /// </summary>
    public static ConcurrentThread[] GuestAccessRacingGpteStore(ConcurrentKvm ctx, GuestKernel guest, KvmVcpu vcpu, ulong gva, Guest.GuestAccess access, ulong value, KvmVcpu other, int level, ulong target, ulong flags, string flagNames, GuestAccessResult[] outcome) =>
    [
        ShadowAccess(ctx, vcpu, gva, access, () => value, outcome: outcome),
        GpteStore(ctx, guest, other, target, level, old => old | flags, $"sets {flagNames} in the {GuestWalker.LevelName(level)} for 0x{target:x}"),
    ];

    /// <summary>
    /// Under shadow paging, the guest's store to its own gPTE at <paramref name="level"/> for
    /// <paramref name="gva"/> through the direct map (a supervisor write, as Linux's set_pte): the
    /// new value is <paramref name="change"/> of the gPTE as it is when the store lands.
    /// </summary>
    public static ConcurrentThread GpteStore(ConcurrentKvm ctx, GuestKernel guest, KvmVcpu vcpu, ulong gva, int level, Func<ulong, ulong> change, string what) =>
        ShadowAccess(ctx, vcpu, GuestKernel.DirectMap(guest.Tables.EntryGpa(gva, level)), new Guest.GuestAccess(user: false, Guest.GuestAccessKind.Write), () => change(guest.Gpte(gva, level)), what);

    private static IEnumerable<Step> ShadowAccessSteps(ConcurrentKvm ctx, KvmVcpu vcpu, ulong gva, Guest.GuestAccess access, Func<ulong> value, string what, GuestAccessResult[] outcome)
    {
        var shadow = ctx.Kvm.Shadow ?? throw new NotSupportedException("a guest access by virtual address runs under shadow paging");
        foreach (var step in shadow.AccessConcurrently(ctx, vcpu, gva, access, value, outcome))
        {
            yield return step;
        }

        var result = outcome[0];
        ctx.Outcomes.Add($"vCPU {vcpu.Id} {what}: " + (result switch
        {
            null => "did not end",
            { PageFault: { } pf } => $"the guest takes {pf}",
            { Completed: true } => $"done after {result.KvmPageFaults} fault(s) into KVM",
            _ => result.Exit ?? result.Outcome.ToString(),
        }));
    }

    /// <summary>The primary MMU's clear_young over [start, end) GFNs (kvm_mmu_notifier_clear_young, no flush).</summary>
    public static ConcurrentThread Age(ConcurrentKvm ctx, ulong start, ulong end) => new("aging", Tdp(ctx).AgeConcurrently(ctx, start, end));

    /// <summary>
    /// An MMU notifier invalidation of the user pages behind [start, end) GFNs, with
    /// <paramref name="changeHost"/> run between invalidate_range_start and _end (what the primary
    /// MMU does to the pages meanwhile), and .change_pte() there if the model has it inside.
    /// </summary>
    public static ConcurrentThread Invalidate(ConcurrentKvm ctx, ulong start, ulong end, string why, Action? changeHost = null, Func<IEnumerable<Step>>? inside = null) =>
        new("notifier", InvalidateSteps(ctx, start, end, why, changeHost, inside));

    /// <summary>
    /// The process's mm goes away (exit_mmap -> kvm_mmu_notifier_release -> kvm_flush_shadow_all
    /// -> kvm_arch_flush_shadow_all -> kvm_mmu_zap_all): under write_lock(mmu_lock),
    /// kvm_tdp_mmu_zap_all() zaps each root (tdp_mmu_zap_root), yielding to threads that spin on the
    /// lock, then the flush. tdp_mmu.c: "Zap all direct roots, including invalid direct roots, as
    /// all direct SPTEs must be dropped before returning to the caller"
    /// (__for_each_tdp_mmu_root_yield_safe with KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS): a root
    /// kvm_tdp_mmu_invalidate_roots() left for the zap of invalidated roots is zapped here too.
    /// Every leaf that was there when it took the lock must be gone when it drops it: one under
    /// an entry the walk never zapped survived kvm_tdp_mmu_zap_all (the
    /// kernel's symptoms: kvm_mmu_uninit_tdp_mmu's WARN on a leaked page, or a freed host page
    /// still mapped). A leaf another thread installed meanwhile is that thread's, and not the
    /// zap's to have zapped.
    /// </summary>
    public static ConcurrentThread Release(ConcurrentKvm ctx) => new("release", ReleaseSteps(ctx));

    private static IEnumerable<Step> ReleaseSteps(ConcurrentKvm ctx)
    {
        var kvm = ctx.Kvm;
        var tdp = Tdp(ctx);
        var side = kvm.Rules.ZapRoot.Lock;
        yield return new Step("kvm_mmu_zap_all: write_lock(mmu_lock)", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        var before = kvm.Mmu.Leaves().ToList();
        var flush = new bool[1];
        var zapped = new List<(ulong Start, ulong End)>();
        foreach (var root in tdp.Roots.Where(r => !r.IsMirror).ToList())
        {
            foreach (var step in tdp.ZapRootConcurrently(ctx, root, side, flush, zapped))
            {
                yield return step;
            }
        }

        yield return new Step("kvm_mmu_zap_all: kvm_flush_remote_tlbs, write_unlock(mmu_lock)");
        foreach (var (gfn, level, spte) in before)
        {
            if (!zapped.Exists(r => gfn >= r.Start && gfn < r.End))
            {
                kvm.Violate("SPTE survived kvm_tdp_mmu_zap_all", $"gfn 0x{gfn:x}'s {Kvm.Kvm.LevelName(level)} SPTE 0x{spte:x} was there when kvm_mmu_zap_all took mmu_lock, and its walk never zapped it");
            }
        }

        if (flush[0])
        {
            kvm.FlushRemoteTlbs("release");
        }

        ctx.MmuLock.Release(ctx.Current, side);
        kvm.Log.Add("mmu notifier release: kvm_mmu_zap_all done");
    }

    /// <summary>
    /// The primary MMU migrates the page behind <paramref name="gfn"/> (migrate_pages: a new page
    /// with a copy of the contents) inside invalidate_range_start/end, as a second invalidation
    /// that may run while another one has dropped mmu_lock: it zaps what it still finds present,
    /// flushes only if it zapped something, and then the host PTE changes.
    /// </summary>
    public static ConcurrentThread Migrate(ConcurrentKvm ctx, ulong gfn)
    {
        var kvm = ctx.Kvm;
        var hvpn = kvm.FindSlot(gfn)!.GfnToHvpn(gfn);
        void Move()
        {
            if (kvm.Host.Lookup(hvpn) is { } old)
            {
                kvm.Host.Set(hvpn, kvm.Host.CopyOf(old, old.Writable));
            }
        }

        return Invalidate(ctx, gfn, gfn + 1, "page migration", Move);
    }

    /// <summary>
    /// KSM merges the page behind <paramref name="gfn"/> (replace_page) as the model's mm tells KVM:
    /// pre-6bdb913f0a70 set_pte_at_notify() alone (ChangePte Invocation Standalone), otherwise
    /// inside invalidate_range_start/end, with .change_pte() inside it while it exists. The
    /// standalone form bumps mmu_notifier_seq unless the policy says BumpsSequence No (the
    /// variant ChangePteStandaloneNoSeq: before 828502d30073 gave it the bump).
    /// </summary>
    public static ConcurrentThread KsmMerge(ConcurrentKvm ctx, ulong gfn)
    {
        var kvm = ctx.Kvm;
        var hvpn = kvm.FindSlot(gfn)!.GfnToHvpn(gfn);
        var old = kvm.Host.Lookup(hvpn) ?? throw new ArgumentException($"gfn 0x{gfn:x} has no host page to merge", nameof(gfn));
        var policy = kvm.Rules.ChangePte;
        HostPte? merged = null;
        void Replace()
        {
            kvm.Host.CopyOnWrite.Add(hvpn);
            merged = kvm.Host.CopyOf(old, writable: false);
            kvm.Host.Set(hvpn, merged.Value);
        }

        if (policy.Exists && policy.Invocation == Invocation.Standalone)
        {
            return new("KSM", ChangePteStandalone(ctx, gfn, Replace, () => merged!.Value, policy.BumpsSequence));
        }

        return Invalidate(ctx, gfn, gfn + 1, "KSM merge", Replace, policy.Exists ? () => ChangePteInside(ctx, gfn, () => merged!.Value) : null);
    }

    private static IEnumerable<Step> InvalidateSteps(ConcurrentKvm ctx, ulong start, ulong end, string why, Action? changeHost, Func<IEnumerable<Step>>? inside)
    {
        var kvm = ctx.Kvm;

        yield return new Step($"invalidate_range_start ({why}): mn_active_invalidate_count++");
        kvm.MnActiveInvalidateStart();

        // kvm_handle_hva_range(): KVM_MMU_LOCK, which the TDP MMU's unmap policy states.
        var side = kvm.Rules.UnmapGfnRange.Lock;
        yield return new Step("invalidate_range_start: KVM_MMU_LOCK", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        yield return new Step("kvm_mmu_invalidate_begin: in progress++, the range added");
        kvm.MmuInvalidateBegin($"invalidate_range_start gfns [0x{start:x}, 0x{end:x}) ({why})");
        kvm.MmuInvalidateRangeAdd(start, end);
        var flush = new bool[1];

        // kvm_tdp_mmu_unmap_gfn_range(): every root the range's filter names, and the invalid
        // ones (a vCPU may still run on one until it reloads), as the sequential UnmapGfnRange.
        var tdp = Tdp(ctx);
        foreach (var root in tdp.UnmapRoots(UnmapCaller.HvaNotifier))
        {
            foreach (var step in tdp.ZapLeafsConcurrently(ctx, root, start, end, side, flush))
            {
                yield return step;
            }
        }

        if (flush[0])
        {
            yield return new Step("kvm_flush_remote_tlbs");
            kvm.FlushRemoteTlbs("invalidate_range_start");
        }

        yield return new Step("invalidate_range_start: KVM_MMU_UNLOCK");
        ctx.MmuLock.Release(ctx.Current, side);
        if (changeHost is not null)
        {
            yield return new Step("the primary MMU replaces the host PTE");
            changeHost();
        }

        if (inside is not null)
        {
            foreach (var step in inside())
            {
                yield return step;
            }
        }

        yield return new Step("invalidate_range_end: KVM_MMU_LOCK", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        yield return new Step("kvm_mmu_invalidate_end: seq++, in progress--");
        kvm.MmuInvalidateEnd($"invalidate_range_end gfns [0x{start:x}, 0x{end:x})");
        yield return new Step("invalidate_range_end: KVM_MMU_UNLOCK, mn_active_invalidate_count--");
        ctx.MmuLock.Release(ctx.Current, side);
        kvm.MnActiveInvalidateEnd();
    }

    /// <summary>
    /// kvm_mmu_notifier_change_pte() before 6bdb913f0a70 (kvm_main.c then): set_pte_at_notify()
    /// sets the host PTE and calls it with no invalidation around; it takes mmu_lock, bumps
    /// mmu_notifier_seq so a fault that resolved the old page retries, and updates the SPTE in
    /// place (kvm_set_spte_hva).
    /// </summary>
    private static IEnumerable<Step> ChangePteStandalone(ConcurrentKvm ctx, ulong gfn, Action replace, Func<HostPte> merged, bool bumpSequence)
    {
        var kvm = ctx.Kvm;
        var side = kvm.Rules.ChangePte.Lock;
        yield return new Step("set_pte_at_notify: the primary MMU sets the merged page's PTE");
        replace();
        yield return new Step("kvm_mmu_notifier_change_pte: spin_lock(mmu_lock)", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        if (bumpSequence)
        {
            yield return new Step("kvm->mmu_notifier_seq++");
            kvm.MmuInvalidateSeq++;
        }

        yield return new Step($"kvm_set_spte_hva: gfn 0x{gfn:x}");
        ctx.AssertHeld(side, "kvm_set_spte_hva");
        var pte = merged();
        ctx.Changed |= kvm.Mmu.SetSpteGfn(gfn, pte.Pfn, pte.Writable);
        yield return new Step("spin_unlock(mmu_lock)");
        ctx.MmuLock.Release(ctx.Current, side);
    }

    /// <summary>
    /// .change_pte() inside invalidate_range_start/end (6bdb913f0a70 .. v6.9): the zap has run, so
    /// it must find no present SPTE (seed 000; c13fda237f08 WARNs the notifier count is elevated).
    /// A fault cannot install one meanwhile: in_progress makes it retry.
    /// </summary>
    private static IEnumerable<Step> ChangePteInside(ConcurrentKvm ctx, ulong gfn, Func<HostPte> merged)
    {
        var kvm = ctx.Kvm;
        var side = kvm.Rules.ChangePte.Lock;
        yield return new Step("kvm_mmu_notifier_change_pte: KVM_MMU_LOCK", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        yield return new Step($"kvm_set_spte_gfn: gfn 0x{gfn:x}");
        var pte = merged();
        if (kvm.Mmu.SetSpteGfn(gfn, pte.Pfn, pte.Writable))
        {
            ctx.Changed = true;
            kvm.Violate("change_pte found a present SPTE", $"gfn 0x{gfn:x}: .change_pte() inside an invalidation changed a present SPTE");
        }

        yield return new Step("KVM_MMU_UNLOCK");
        ctx.MmuLock.Release(ctx.Current, side);
    }

    /// <summary>
    /// The MMU notifier's promise once no invalidation is in progress: every present leaf maps the
    /// host page its memslot's user address maps now (a fault that resolved a page the primary MMU
    /// has since replaced must have retried: mmu_invalidate_retry_gfn).
    /// </summary>
    public static void CheckMappingsCurrent(ConcurrentKvm ctx)
    {
        var kvm = ctx.Kvm;
        if (kvm.MmuInvalidateInProgress != 0)
        {
            return;
        }

        foreach (var (gfn, level, spte) in kvm.Mmu.Leaves())
        {
            for (ulong i = 0; i < TdpWalker.PagesPerHpage(level); i++)
            {
                if (kvm.FindSlot(gfn + i) is { } slot && kvm.Host.Lookup(slot.GfnToHvpn(gfn + i)) is { } host && host.Pfn != TdpWalker.SpteToPfn(spte) + i)
                {
                    kvm.Violate("SPTE maps a stale host page", $"gfn 0x{gfn + i:x} maps host pfn 0x{TdpWalker.SpteToPfn(spte) + i:x}, the primary MMU maps 0x{host.Pfn:x}");
                    return;
                }
            }
        }
    }

    /// <summary>The end-of-run check: the checker's invariants, mappings current with the host, no write left out of the log.</summary>
    public static void FinalCheck(ConcurrentKvm ctx)
    {
        ctx.Kvm.CheckInvariants("every operation");
        CheckMappingsCurrent(ctx);
        ctx.CheckWritesLogged();
    }

    /// <summary>
    /// Userspace fetches memslot <paramref name="slotId"/>'s dirty log. Without manual protect it is
    /// KVM_GET_DIRTY_LOG (kvm_get_dirty_log_protect: under one KVM_MMU_LOCK, per set word, xchg
    /// the word to 0 and re-protect its pages; kvm_flush_remote_tlbs_memslot() after the unlock:
    /// <see cref="ProtectDirtyWords"/>). With manual protect KVM_GET_DIRTY_LOG only copies the
    /// bitmap: kvm_get_dirty_log_protect() then takes no lock, clears nothing and flushes nothing
    /// ("no flush is needed until KVM_CLEAR_DIRTY_LOG"), so userspace knows the dirty pages from
    /// the copy alone and re-arms exactly those by KVM_CLEAR_DIRTY_LOG of the whole slot with the
    /// copy as its mask (kvm_clear_dirty_log_protect), as QEMU does: a page dirtied after the copy
    /// stays pending. The copy is one step (copy_to_user reads the words one by one, but a race
    /// with one fault touches one word, so one step loses none of its outcomes).
    /// </summary>
    public static ConcurrentThread FetchDirtyLog(ConcurrentKvm ctx, int slotId)
    {
        var kvm = ctx.Kvm;
        var slot = kvm.SlotById(slotId) ?? throw new ArgumentException($"no memslot {slotId}", nameof(slotId));
        _ = slot.DirtyBitmap ?? throw new ArgumentException($"memslot {slotId} does not log dirty pages", nameof(slotId));
        return new("userspace", kvm.ManualProtect.HasFlag(ManualDirtyLogProtect.Enable)
            ? ManualFetchSteps(ctx, slot)
            : ProtectDirtyWords(ctx, slot, "KVM_GET_DIRTY_LOG", 0, clear: null));
    }

    private static IEnumerable<Step> ManualFetchSteps(ConcurrentKvm ctx, KvmMemorySlot slot)
    {
        const string get = "KVM_GET_DIRTY_LOG";
        var kvm = ctx.Kvm;
        if (kvm.EnablePml)
        {
            yield return new Step($"{get}: kvm_arch_sync_dirty_log kicks the vCPUs");
            kvm.SyncDirtyLog();
        }

        yield return new Step($"{get}: copy_to_user of the bitmap (manual protect: no lock, no clear, no flush)");
        var copy = (ulong[])slot.DirtyBitmap!.Clone();
        kvm.Log.Add($"{get} memslot {slot.Id} (manual protect): {Kvm.Kvm.DirtyRanges(slot.BaseGfn, copy)}");
        foreach (var step in ProtectDirtyWords(ctx, slot, "KVM_CLEAR_DIRTY_LOG", 0, copy))
        {
            yield return step;
        }
    }

    /// <summary>
    /// Userspace clears <paramref name="numPages"/> pages of memslot <paramref name="slotId"/>'s
    /// dirty log from <paramref name="firstPage"/> by KVM_CLEAR_DIRTY_LOG, <paramref name="bitmap"/>
    /// holding one bit a page (virt/kvm/kvm_main.c, kvm_clear_dirty_log_protect): its range checks
    /// first (<see cref="Kvm.Kvm.CheckClearDirtyLog"/>: -EINVAL for a first_page not a multiple of
    /// 64, or a num_pages not a multiple of 64 that stops short of the slot's end; -ENOENT for a
    /// slot without a bitmap), kvm_arch_sync_dirty_log(), -EFAULT for a bitmap shorter than num_pages
    /// (copy_from_user), then under one KVM_MMU_LOCK, per word with bits in the user's mask,
    /// <c>mask &amp;= atomic_long_fetch_andnot(mask, p)</c> (only the bits that really were set are
    /// cleared) and kvm_arch_mmu_enable_log_dirty_pt_masked() of those, then KVM_MMU_UNLOCK and
    /// the memslot flushed if any were (<see cref="ProtectDirtyWords"/>). A refused call returns
    /// in one step and changes nothing. The thread's outcome is the ioctl's result, 0 or -errno;
    /// <paramref name="result"/> holds it too.
    /// </summary>
    public static ConcurrentThread ClearDirtyLog(ConcurrentKvm ctx, int slotId, ulong firstPage, ulong numPages, ulong[] bitmap, int[]? result = null) =>
        new("userspace", ClearDirtyLogSteps(ctx, slotId, firstPage, numPages, bitmap, result ?? new int[1]));

    private static IEnumerable<Step> ClearDirtyLogSteps(ConcurrentKvm ctx, int slotId, ulong firstPage, ulong numPages, ulong[] bitmap, int[] result)
    {
        const string ioctl = "KVM_CLEAR_DIRTY_LOG";
        var kvm = ctx.Kvm;
        var words = (int)((numPages + 63) / 64);
        if (kvm.CheckClearDirtyLog((uint)slotId, firstPage, numPages, out var slot) is not 0 and var refused)
        {
            yield return new Step($"{ioctl}: returns {Errno(refused)} to userspace");
            result[0] = refused;
        }
        else if (bitmap.Length < words)
        {
            foreach (var step in ProtectDirtyWords(ctx, slot, ioctl, 0, clear: null, fault: true))
            {
                yield return step;
            }

            yield return new Step($"{ioctl}: copy_from_user fails, returns to userspace");
            result[0] = kvm.ClearDirtyLogBitmapShort(slot);
        }
        else
        {
            foreach (var step in ProtectDirtyWords(ctx, slot, ioctl, (int)(firstPage / 64), bitmap[..words]))
            {
                yield return step;
            }
        }

        ctx.Outcomes.Add($"{ioctl} returned {Errno(result[0])}");
    }

    private static string Errno(int result) => result == 0 ? "0" : $"-{(Uapi.Errno)(-result)}";

    /// <summary>
    /// The word loop kvm_get_dirty_log_protect() and kvm_clear_dirty_log_protect() share
    /// (virt/kvm/kvm_main.c): after kvm_arch_sync_dirty_log(), KVM_MMU_LOCK once around the whole
    /// loop (write_lock on x86; policy ClearDirtyPtMasked's Lock picks the side), and inside it,
    /// per bitmap word from <paramref name="firstWord"/>, take the word's dirty bits and re-protect
    /// their pages (kvm_arch_mmu_enable_log_dirty_pt_masked -> clear_dirty_pt_masked); then
    /// KVM_MMU_UNLOCK, kvm_flush_remote_tlbs_memslot() if any word was taken, and return: the taken
    /// pages count as reported to userspace. With <paramref name="clear"/> null it is GET's take,
    /// <c>if (!dirty_bitmap[i]) continue; flush = true; mask = xchg(&amp;dirty_bitmap[i], 0);</c>
    /// (one step: read and xchg by the one thread that clears bits, under slots_lock, take the
    /// same bits whatever the vCPUs set between them); else CLEAR's, which skips a word whose
    /// user mask is 0 without reading the bitmap, and <c>mask &amp;= atomic_long_fetch_andnot(mask, p)</c>,
    /// re-protecting and flushing only for bits that really were set. A vCPU's fault under the
    /// read lock so waits for every word, not one. <paramref name="fault"/> stops after the sync
    /// (copy_from_user failed: -EFAULT), before the lock.
    /// </summary>
    private static IEnumerable<Step> ProtectDirtyWords(ConcurrentKvm ctx, KvmMemorySlot slot, string ioctl, int firstWord, ulong[]? clear, bool fault = false)
    {
        var kvm = ctx.Kvm;
        var dirty = slot.DirtyBitmap!;
        var side = kvm.Rules.ClearDirtyPtMasked.Lock == MmuLock.None ? MmuLock.Write : kvm.Rules.ClearDirtyPtMasked.Lock;
        var taken = new ulong[dirty.Length];
        var flush = false;
        if (kvm.EnablePml)
        {
            // kvm_arch_sync_dirty_log(): kick the vCPUs, whose exits flush their PML logs.
            yield return new Step($"{ioctl}: kvm_arch_sync_dirty_log kicks the vCPUs");
            kvm.SyncDirtyLog();
        }

        if (fault)
        {
            yield break;
        }

        yield return new Step($"{ioctl}: KVM_MMU_LOCK", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        for (var n = 0; n < (clear?.Length ?? dirty.Length); n++)
        {
            var word = firstWord + n;
            if (clear is not null && clear[n] == 0)
            {
                continue;
            }

            yield return new Step(clear is null ? $"{ioctl}: bitmap word {word}: xchg with 0 if set" : $"{ioctl}: atomic_long_fetch_andnot bitmap word {word}");
            var mask = clear is null ? dirty[word] : clear[n] & dirty[word];
            dirty[word] &= ~mask;
            taken[word] = mask;
            if (mask == 0)
            {
                continue;
            }

            flush = true;
            kvm.ReportConcurrently(slot, word, mask);
            foreach (var step in Tdp(ctx).ClearDirtyPtMaskedConcurrently(ctx, slot.BaseGfn + ((ulong)word * 64), mask))
            {
                yield return step;
            }
        }

        yield return new Step($"{ioctl}: KVM_MMU_UNLOCK");
        ctx.MmuLock.Release(ctx.Current, side);
        if (flush)
        {
            yield return new Step($"{ioctl}: kvm_flush_remote_tlbs_memslot");
            kvm.FlushRemoteTlbs($"{ioctl} memslot {slot.Id}");
        }

        yield return new Step($"{ioctl}: returns to userspace");

        // Userspace copies only the pages it asked to clear: a bit taken outside its mask would
        // be a write it never learns of, so the end check counts only the mask's pages reported.
        for (var n = 0; clear is not null && n < taken.Length; n++)
        {
            var user = n - firstWord;
            taken[n] &= user >= 0 && user < clear.Length ? clear[user] : 0;
        }

        ctx.Reported(Kvm.Kvm.Gfns(slot.BaseGfn, taken));
        kvm.Log.Add($"{ioctl} memslot {slot.Id}: {Kvm.Kvm.DirtyRanges(slot.BaseGfn, taken)}");
    }

    /// <summary>
    /// Userspace harvests every vCPU's dirty ring and calls KVM_RESET_DIRTY_RINGS while vCPUs run
    /// (api.rst, KVM_CAP_DIRTY_LOG_RING): for each ring it load-acquires the flags at its fetch
    /// index and, while they are exactly DIRTY, store-releases RESET there, one step each; then
    /// kvm_vm_ioctl_reset_dirty_pages() (kvm_main.c) under kvm->slots_lock runs
    /// kvm_dirty_ring_reset() (dirty_ring.c) on each vCPU's ring, one step per entry it frees,
    /// with kvm_reset_dirty_gfn() re-protecting each coalesced mask under KVM_MMU_LOCK
    /// (kvm_arch_mmu_enable_log_dirty_pt_masked -> clear_dirty_pt_masked, an SPTE write a step),
    /// and kvm_flush_remote_tlbs() after mutex_unlock if any entry was reset. Unlike the bitmap
    /// ioctls, the lock is taken per mask, not around the ring: the newest dirty_ring.c batches
    /// entries only "to minimize mmu_lock contention", resets the last batch only "if (mask)",
    /// and may cond_resched() between entries, a point the per-entry step already is; its
    /// signal_pending() -EINTR and INT_MAX cap are not modelled. api.rst: "the ioctl must be called
    /// *before* reading the content of the dirty pages", so the harvested pages count as reported
    /// when the ioctl returns: a write before that is in what userspace reads, one after it must
    /// be pushed again (the checker's "dirty page lost").
    /// </summary>
    public static ConcurrentThread HarvestAndResetDirtyRings(ConcurrentKvm ctx) => new("userspace", HarvestAndResetSteps(ctx));

    private static IEnumerable<Step> HarvestAndResetSteps(ConcurrentKvm ctx)
    {
        var kvm = ctx.Kvm;
        if (kvm.DirtyRing is null)
        {
            throw new InvalidOperationException("the dirty ring is not enabled");
        }

        if (kvm.EnablePml)
        {
            // Userspace kicks the vCPUs first; each exit flushes its PML log into its ring (api.rst).
            yield return new Step("userspace kicks the vCPUs out of KVM_RUN");
            kvm.SyncDirtyLog();
        }

        var harvested = new List<ulong>();
        foreach (var vcpu in kvm.Vcpus)
        {
            var ring = kvm.RingOf(vcpu);
            while (true)
            {
                yield return new Step($"load-acquire the flags of vCPU {vcpu.Id}'s ring entry {ring.FetchIndex}");
                if (ring.FetchIndex >= ring.DirtyIndex || ring[ring.FetchIndex].Flags != KvmDirtyGfn.Dirty)
                {
                    break;
                }

                yield return new Step($"store-release KVM_DIRTY_GFN_F_RESET to vCPU {vcpu.Id}'s ring entry {ring.FetchIndex}");
                var (entry, lineage) = ring.HarvestNext();
                if (kvm.SlotById(entry.Slot) is { } slot && slot.Lineage == lineage && entry.Offset < slot.Npages)
                {
                    harvested.Add(slot.BaseGfn + entry.Offset);
                }
            }
        }

        yield return new Step("KVM_RESET_DIRTY_RINGS: mutex_lock(&kvm->slots_lock)");
        var count = 0;
        foreach (var vcpu in kvm.Vcpus)
        {
            var ring = kvm.RingOf(vcpu);
            var coalescer = new DirtyGfnCoalescer();
            while (true)
            {
                yield return new Step($"kvm_dirty_ring_reset: vCPU {vcpu.Id}'s ring entry {ring.ResetIndex}: kvm_dirty_gfn_harvested, kvm_dirty_gfn_set_invalid");
                if (ring.ResetNext() is not { } entry)
                {
                    break;
                }

                count++;
                if (coalescer.Add(entry) is { } closed)
                {
                    foreach (var step in ResetDirtyGfnSteps(ctx, closed.Slot, closed.Offset, closed.Mask))
                    {
                        yield return step;
                    }
                }
            }

            var (slotId, offset, mask) = coalescer.Current;
            foreach (var step in ResetDirtyGfnSteps(ctx, slotId, offset, mask))
            {
                yield return step;
            }
        }

        yield return new Step("KVM_RESET_DIRTY_RINGS: mutex_unlock(&kvm->slots_lock)");
        if (count > 0)
        {
            yield return new Step("KVM_RESET_DIRTY_RINGS: kvm_flush_remote_tlbs");
            kvm.FlushRemoteTlbs("KVM_RESET_DIRTY_RINGS");
        }

        yield return new Step("KVM_RESET_DIRTY_RINGS: returns to userspace");
        ctx.Reported(harvested);
        kvm.Log.Add($"collect dirty rings and KVM_RESET_DIRTY_RINGS while vCPUs run: {harvested.Count} harvested, {count} entries reset");
    }

    // kvm_reset_dirty_gfn() (dirty_ring.c): nothing if the slot is gone or no longer holds the
    // pages, else KVM_MMU_LOCK (write_lock on x86, which policy ClearDirtyPtMasked's Lock can
    // change), kvm_arch_mmu_enable_log_dirty_pt_masked, KVM_MMU_UNLOCK.
    private static IEnumerable<Step> ResetDirtyGfnSteps(ConcurrentKvm ctx, int? slotId, ulong offset, ulong mask)
    {
        var kvm = ctx.Kvm;
        if (kvm.DirtyGfnResetSlot(slotId, offset, mask) is not { } slot)
        {
            yield break;
        }

        var side = kvm.Rules.ClearDirtyPtMasked.Lock == MmuLock.None ? MmuLock.Write : kvm.Rules.ClearDirtyPtMasked.Lock;
        yield return new Step("kvm_reset_dirty_gfn: KVM_MMU_LOCK", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, side);
        foreach (var step in Tdp(ctx).ClearDirtyPtMaskedConcurrently(ctx, slot.BaseGfn + offset, mask))
        {
            yield return step;
        }

        yield return new Step("kvm_reset_dirty_gfn: KVM_MMU_UNLOCK");
        ctx.MmuLock.Release(ctx.Current, side);
    }

    /// <summary>
    /// Userspace turns dirty logging on for memslot <paramref name="slotId"/> while vCPUs run
    /// (KVM_SET_USER_MEMORY_REGION adding KVM_MEM_LOG_DIRTY_PAGES, KVM_MR_FLAGS_ONLY):
    /// kvm_set_memslot() publishes a copy of the slot with the flag and a new bitmap
    /// (kvm_swap_active_memslots: rcu_assign_pointer, once mn_active_invalidate_count is 0, so no
    /// invalidation runs across the swap), synchronize_srcu_expedited() waits for every
    /// vCPU that may still act on the old slot, then kvm_commit_memory_region() runs
    /// kvm_mmu_slot_apply_flags(): nothing to protect under INITIALLY_SET ("they're all assumed to
    /// be dirty"); else eager page splitting if on (kvm_mmu_slot_try_split_huge_pages), then with
    /// PML kvm_mmu_slot_leaf_clear_dirty() and the write-protection of 2M and up, else the
    /// write-protection of every leaf (kvm_mmu_slot_remove_write_access), each under the lock its
    /// policy says (read_lock(mmu_lock) in mmu.c), and "unconditionally flush the TLBs after
    /// enabling dirty logging" (kvm_flush_remote_tlbs_memslot). Userspace copies the whole slot
    /// once the ioctl has returned, so a write before that need not be logged: the return counts
    /// as a report of every page.
    /// </summary>
    public static ConcurrentThread EnableDirtyLogging(ConcurrentKvm ctx, int slotId) => new("userspace", EnableDirtyLoggingSteps(ctx, slotId));

    private static IEnumerable<Step> EnableDirtyLoggingSteps(ConcurrentKvm ctx, int slotId)
    {
        var kvm = ctx.Kvm;
        var swap = new KvmMemorySlot[1];
        foreach (var step in SwapSlotFlags(ctx, slotId, logging: true, swap))
        {
            yield return step;
        }

        var slot = swap[0];
        if (!kvm.ManualProtect.HasFlag(ManualDirtyLogProtect.InitiallySet))
        {
            var tdp = Tdp(ctx);
            if (kvm.EagerPageSplit)
            {
                foreach (var step in Locked(ctx, kvm.Rules.SplitHugePages, "kvm_mmu_slot_try_split_huge_pages", _ => tdp.TrySplitHugePagesAtOnce(ctx, slot)))
                {
                    yield return step;
                }
            }

            if (kvm.EnablePml)
            {
                foreach (var step in Locked(ctx, kvm.Rules.ClearDirtyGfnRange, "kvm_mmu_slot_leaf_clear_dirty", side => tdp.RewriteLeavesConcurrently(ctx, kvm.Rules.ClearDirtyGfnRange, slot.BaseGfn, slot.EndGfn, 1, side)))
                {
                    yield return step;
                }
            }

            var minLevel = kvm.EnablePml ? 2 : 1;
            foreach (var step in Locked(ctx, kvm.Rules.WrprotGfnRange, "kvm_mmu_slot_remove_write_access", side => tdp.RewriteLeavesConcurrently(ctx, kvm.Rules.WrprotGfnRange, slot.BaseGfn, slot.EndGfn, minLevel, side)))
            {
                yield return step;
            }

            yield return new Step("kvm_mmu_slot_apply_flags: kvm_flush_remote_tlbs_memslot");
            kvm.FlushRemoteTlbs($"dirty logging enabled on memslot {slot.Id}");
        }

        yield return new Step("KVM_SET_USER_MEMORY_REGION: returns to userspace");
        kvm.EndFlagsChangeConcurrently(slot);
        ctx.Reported(Enumerable.Range(0, (int)slot.Npages).Select(i => slot.BaseGfn + (ulong)i));
    }

    /// <summary>
    /// Userspace turns dirty logging off for memslot <paramref name="slotId"/> while vCPUs run (a
    /// cancelled migration: KVM_SET_USER_MEMORY_REGION dropping KVM_MEM_LOG_DIRTY_PAGES,
    /// KVM_MR_FLAGS_ONLY): the slot swap and synchronize_srcu_expedited() as when logging starts,
    /// then kvm_mmu_slot_apply_flags() recovers the slot's huge pages now that writes need not be
    /// tracked at 4K (kvm_mmu_recover_huge_pages: read_lock(mmu_lock) around
    /// kvm_tdp_mmu_recover_huge_pages, as policy RecoverHugePages' Lock says), while faults on the
    /// new slot map huge pages of their own.
    /// </summary>
    public static ConcurrentThread DisableDirtyLogging(ConcurrentKvm ctx, int slotId) => new("userspace", DisableDirtyLoggingSteps(ctx, slotId));

    private static IEnumerable<Step> DisableDirtyLoggingSteps(ConcurrentKvm ctx, int slotId)
    {
        var kvm = ctx.Kvm;
        var swap = new KvmMemorySlot[1];
        foreach (var step in SwapSlotFlags(ctx, slotId, logging: false, swap))
        {
            yield return step;
        }

        var slot = swap[0];
        var tdp = Tdp(ctx);
        var recovered = new int[1];
        foreach (var step in Locked(ctx, kvm.Rules.RecoverHugePages, "kvm_mmu_recover_huge_pages", side => tdp.RecoverHugePagesConcurrently(ctx, slot, side, recovered)))
        {
            yield return step;
        }

        yield return new Step("KVM_SET_USER_MEMORY_REGION: returns to userspace");
        kvm.Log.Add($"dirty logging disabled on memslot {slot.Id}: {recovered[0]} huge page(s) recovered");

        // Which cmpxchg won a table a fault also maps huge: the exploration counts both endings.
        ctx.Outcomes.Add($"recover_huge_pages_range recovered {recovered[0]} huge page(s)");
        kvm.EndFlagsChangeConcurrently(slot);
    }

    // kvm_set_memslot() for KVM_MR_FLAGS_ONLY up to kvm_commit_memory_region(): the slot with
    // KVM_MEM_LOG_DIRTY_PAGES set or cleared is published once no invalidation is active
    // (kvm_swap_active_memslots: "Do not store the new memslots while there are invalidations in
    // progress"), then synchronize_srcu_expedited() waits for the vCPUs still on the old one.
    private static IEnumerable<Step> SwapSlotFlags(ConcurrentKvm ctx, int slotId, bool logging, KvmMemorySlot[] swapped)
    {
        var kvm = ctx.Kvm;
        var old = kvm.SlotById(slotId) ?? throw new ArgumentException($"no memslot {slotId}", nameof(slotId));
        if (old.DirtyTracked == logging || old.ReadOnly || kvm.DirtyRing is not null)
        {
            throw new ArgumentException($"memslot {slotId} {(old.DirtyTracked == logging ? (logging ? "logs dirty pages already" : "does not log dirty pages") : old.ReadOnly ? "is read-only: kvm_mmu_slot_apply_flags has nothing to do" : "is under the dirty ring, whose flag changes the concurrent paths do not model")}", nameof(slotId));
        }

        var flags = logging ? old.Flags | MemoryRegionFlags.LogDirtyPages : old.Flags & ~MemoryRegionFlags.LogDirtyPages;
        yield return new Step($"KVM_SET_USER_MEMORY_REGION: kvm_swap_active_memslots, once no invalidation is active, publishes memslot {slotId} {(logging ? "with" : "without")} KVM_MEM_LOG_DIRTY_PAGES", () => !kvm.MnInvalidationsActive);
        swapped[0] = kvm.BeginFlagsChangeConcurrently(old, flags);
        if (ctx.SynchronizeSrcu)
        {
            yield return new Step("synchronize_srcu_expedited(&kvm->srcu)", ctx.Srcu.Synchronize());
        }
    }

    /// <summary>
    /// kvm_write_track_add_gfn() (page_track.c) while vCPUs run, as KVMGT calls it: under
    /// kvm->srcu and write_lock(mmu_lock) (the lock policy WriteProtectGfn says),
    /// __kvm_write_track_add_gfn() counts the GFN as write-tracked, forbids huge pages over it
    /// (kvm_mmu_gfn_disallow_lpage) and write-protects its SPTEs down to 4K
    /// (kvm_mmu_slot_gfn_write_protect -> kvm_tdp_mmu_write_protect_gfn: W and MMU-writable
    /// cleared), flushing before the unlock if that changed one. A fault that read the GFN as
    /// untracked and maps it after must find it tracked when it makes the SPTE
    /// (mmu_try_to_unsync_pages under mmu_lock), so no SPTE of a tracked GFN is writable once
    /// the call returns (the checker's "write-tracked gfn writable", after every step).
    /// </summary>
    public static ConcurrentThread WriteTrackAdd(ConcurrentKvm ctx, ulong gfn) => new("page track", WriteTrackAddSteps(ctx, gfn));

    private static IEnumerable<Step> WriteTrackAddSteps(ConcurrentKvm ctx, ulong gfn)
    {
        var kvm = ctx.Kvm;
        var slot = kvm.FindSlot(gfn) ?? throw new ArgumentException($"no memslot holds gfn 0x{gfn:x}", nameof(gfn));
        var policy = kvm.Rules.WriteProtectGfn;
        var changed = new bool[1];
        foreach (var step in Locked(ctx, policy, "kvm_write_track_add_gfn", side => TrackAndProtect(ctx, slot, gfn, side, changed)))
        {
            yield return step;
        }

        yield return new Step("kvm_write_track_add_gfn: returns");
        kvm.WriteTrackBeingAdded.Remove(gfn);
        kvm.Log.Add($"write tracking added for gfn 0x{gfn:x} while vCPUs run");
        kvm.AfterOperation("kvm_write_track_add_gfn");
    }

    private static IEnumerable<Step> TrackAndProtect(ConcurrentKvm ctx, KvmMemorySlot slot, ulong gfn, MmuLock side, bool[] changed)
    {
        yield return new Step($"__kvm_write_track_add_gfn: update_gfn_write_track, kvm_mmu_gfn_disallow_lpage for gfn 0x{gfn:x}");
        slot.UpdateWriteTrack(gfn, +1);
        ctx.Kvm.WriteTrackBeingAdded.Add(gfn);
        foreach (var step in Tdp(ctx).RewriteLeavesConcurrently(ctx, ctx.Kvm.Rules.WriteProtectGfn, gfn, gfn + 1, 1, side, changed))
        {
            yield return step;
        }

        if (changed[0])
        {
            yield return new Step("__kvm_write_track_add_gfn: kvm_flush_remote_tlbs");
            ctx.Kvm.FlushRemoteTlbs($"kvm_write_track_add_gfn 0x{gfn:x}");
        }
    }

    // An mmu.c caller around a TDP MMU walk: mmu_lock taken as the walk's policy says (none for
    // Lock None, and the walk's own assertions then show it), the walk, the unlock.
    private static IEnumerable<Step> Locked(ConcurrentKvm ctx, OperationPolicy policy, string caller, Func<MmuLock, IEnumerable<Step>> walk)
    {
        var side = policy.Lock;
        var name = side == MmuLock.Write ? "write" : "read";
        if (side != MmuLock.None)
        {
            yield return new Step($"{caller}: {name}_lock(mmu_lock)", () => ctx.MmuLock.CanTake(side), SpinsOnMmuLock: true);
            ctx.MmuLock.Take(ctx.Current, side);
        }

        foreach (var step in walk(side))
        {
            yield return step;
        }

        if (side != MmuLock.None)
        {
            yield return new Step($"{caller}: {name}_unlock(mmu_lock)");
            ctx.MmuLock.Release(ctx.Current, side);
        }
    }

    private static TdpMmu Tdp(ConcurrentKvm ctx) =>
        ctx.Kvm.Tdp ?? throw new NotSupportedException("concurrent operations run on the TDP MMU; the shadow MMU's are to come");
}
