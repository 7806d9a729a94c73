using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdx;
using SpecKit.Uapi;

namespace SpecKit.Mmu.X86;

/// <summary>How a VM's x86 MMU is built, chosen when the VM is made (kvm_mmu_create / kvm_configure_mmu).</summary>
public enum MmuKind
{
    /// <summary>The TDP MMU on Intel EPT (tdp_enabled, tdp_mmu_enabled, kvm_mmu_set_ept_masks).</summary>
    TdpEpt,

    /// <summary>The TDP MMU on AMD NPT: the x86-64 PTE format, A/D bits always (kvm_mmu_reset_all_pte_masks).</summary>
    TdpNpt,

    /// <summary>Shadow paging (tdp_enabled = false): KVM shadows the guest's page tables, rmaps and all.</summary>
    Shadow,
}

/// <summary>What one guest access came to, as the MMU found it.</summary>
public enum AccessOutcome
{
    /// <summary>The access went through a translation to a host page.</summary>
    Done,

    /// <summary>KVM emulates the instruction (RET_PF_EMULATE, RET_PF_WRITE_PROTECTED): MMIO, a read-only slot, a write-tracked page.</summary>
    Emulate,

    /// <summary>The guest takes a #PF KVM injected (shadow paging: the guest's own tables forbid the access).</summary>
    GuestPageFault,

    /// <summary>KVM_RUN returned to userspace (KVM_EXIT_MEMORY_FAULT, -EFAULT) before the access completed.</summary>
    Exit,

    /// <summary>RET_PF_RETRY while an invalidation covers the page: the vCPU re-faults until it ends.</summary>
    WaitsForInvalidation,
}

/// <summary>
/// One guest access through the MMU: where it went (<see cref="Gpa"/>, and the host page for
/// <see cref="AccessOutcome.Done"/>), how many exits into KVM's fault handler it took, and
/// whether the vCPU's TLB had it.
/// </summary>
public readonly record struct MmuAccess(AccessOutcome Outcome, ulong Gpa, ulong HostPfn, int KvmPageFaults, bool TlbHit, Guest.GuestPageFault? PageFault = null, string? Exit = null)
{
    public static MmuAccess Done(ulong gpa, ulong pfn, int faults, bool tlbHit) => new(AccessOutcome.Done, gpa, pfn, faults, tlbHit);

    public static MmuAccess Emulate(ulong gpa, int faults) => new(AccessOutcome.Emulate, gpa, 0, faults, false);
}

/// <summary>
/// The x86 MMU of one VM, as the common code reaches it: the boundary arch/x86/kvm/mmu/mmu.c
/// draws between what every MMU shares (make_spte() and the SPTE masks, the writable-state
/// check, TLB flushes, page tracking) and the MMU the VM was made with, the TDP MMU
/// (kvm_tdp_mmu_*) or the shadow MMU (the rmap paths). kvm_main.c calls these hooks: the fault
/// path, the MMU notifier (kvm_unmap_gfn_range, kvm_age_gfn, kvm_test_age_gfn), memslot changes
/// (kvm_mmu_slot_apply_flags, kvm_arch_flush_shadow_memslot), dirty logging
/// (kvm_arch_mmu_enable_log_dirty_pt_masked) and write tracking (kvm_mmu_slot_gfn_write_protect).
/// </summary>
public abstract class X86Mmu
{
    protected X86Mmu(Kvm.Kvm kvm, SpteMasks masks)
    {
        Kvm = kvm;
        Masks = masks;
        Rules = kvm.Rules;
    }

    public Kvm.Kvm Kvm { get; }

    /// <summary>The SPTE format the VM was made with (the host's shadow_*_mask values).</summary>
    public SpteMasks Masks { get; }

    public MmuRules Rules { get; }

    public abstract MmuKind Kind { get; }

    /// <summary>kvm_ad_enabled for this MMU's SPTEs: the eptad module parameter for EPT; always for NPT and shadow paging.</summary>
    public abstract bool AdEnabled { get; }

    /// <summary>Whether a leaf's dirty state is tracked by W (no A/D bits: tdp_mmu_need_write_protect), else by D.</summary>
    public ulong DirtyBit => AdEnabled ? Masks.DirtyMask : SpteMasks.Writable;

    /// <summary>
    /// A guest access as the CPU makes it, on <paramref name="address"/> (a GPA under TDP, a GVA
    /// under shadow paging): a TLB hit, a walk of the SPTEs, or a fault into KVM and its fixes,
    /// until it is done, must be emulated, or exits.
    /// </summary>
    public abstract MmuAccess Access(KvmVcpu vcpu, ulong address, Guest.GuestAccess access);

    /// <summary>
    /// The leaf SPTE a vCPU's translation of <paramref name="tlbKey"/> would use now: for the
    /// checker's stale-translation rule.
    /// </summary>
    public abstract (ulong Spte, ulong Pfn)? CurrentTranslation(KvmVcpu vcpu, ulong tlbKey);

    /// <summary>kvm_unmap_gfn_range(): zap what maps [start, end) for <paramref name="caller"/>; returns whether a flush is owed.</summary>
    public abstract bool UnmapGfnRange(ulong start, ulong end, UnmapCaller caller, MemoryAttribute? attribute, bool flush);

    /// <summary>kvm_age_gfn() (clear_young, clear_flush_young) and kvm_test_age_gfn() (test_young).</summary>
    public abstract bool AgeGfnRange(ulong start, ulong end, bool testOnly);

    /// <summary>kvm_set_spte_gfn(): .change_pte() in the kernels that had it; returns whether an SPTE changed.</summary>
    public abstract bool SetSpteGfn(ulong gfn, ulong newPfn, bool hostWritable);

    /// <summary>
    /// kvm_mmu_slot_apply_flags() (x86.c) for a flags-only change of a writable slot: when dirty
    /// logging stops, recover huge pages (kvm_mmu_recover_huge_pages), whose walks flush the
    /// memslot as policy RecoverHugePages' Flush says (if they recovered one); when
    /// it starts, nothing under INITIALLY_SET ("all assumed to be dirty"), else split huge pages if
    /// eager_page_split (kvm_mmu_slot_try_split_huge_pages); then with PML (kvm_x86_ops.cpu_dirty_log_size)
    /// clear D on every leaf (kvm_mmu_slot_leaf_clear_dirty) and write-protect only 2M and up so a
    /// write splits them, else write-protect every leaf down to 4K (kvm_mmu_slot_remove_write_access);
    /// and "unconditionally flush the TLBs after enabling dirty logging".
    /// </summary>
    public void SlotApplyFlags(KvmMemorySlot slot, bool loggingEnabled)
    {
        if (!loggingEnabled)
        {
            var (recovered, flushOwed) = RecoverHugePages(slot);
            Kvm.Log.Add($"dirty logging disabled on memslot {slot.Id}: {recovered} huge page(s) recovered");
            if (Rules.RecoverHugePages.Flush == FlushPolicy.Always || (Rules.RecoverHugePages.Flush == FlushPolicy.OnChange && flushOwed))
            {
                FlushRemoteTlbs($"dirty logging disabled on memslot {slot.Id}");
            }

            return;
        }

        if (Kvm.ManualProtect.HasFlag(ManualDirtyLogProtect.InitiallySet))
        {
            Kvm.Log.Add($"dirty logging enabled on memslot {slot.Id}: initially set, nothing write-protected");
            return;
        }

        if (Kvm.EagerPageSplit && TrySplitHugePages(slot, slot.BaseGfn, slot.EndGfn) is var split and > 0)
        {
            Kvm.Log.Add($"eager page split on memslot {slot.Id}: {split} huge page(s) split to 4K");
        }

        if (Kvm.EnablePml)
        {
            SlotLeafClearDirty(slot);
            SlotRemoveWriteAccess(slot, minLevel: 2);
        }
        else
        {
            SlotRemoveWriteAccess(slot, minLevel: 1);
        }

        FlushRemoteTlbs($"dirty logging enabled on memslot {slot.Id}");
    }

    /// <summary>
    /// kvm_arch_mmu_enable_log_dirty_pt_masked(): re-protect the 4K pages of one 64-page word
    /// starting at <paramref name="gfn"/>: with PML clear their D bits (kvm_mmu_clear_dirty_pt_masked),
    /// else write-protect them (kvm_mmu_write_protect_pt_masked). Under INITIALLY_SET nothing was protected when logging started, so the huge pages
    /// holding the word's first and last pages are split (eager splitting) and write-protected
    /// first, "the range can cross two large pages".
    /// </summary>
    public void EnableLogDirtyPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask)
    {
        if (Kvm.ManualProtect.HasFlag(ManualDirtyLogProtect.InitiallySet))
        {
            var start = gfn + (ulong)System.Numerics.BitOperations.TrailingZeroCount(mask);
            var end = gfn + 63 - (ulong)System.Numerics.BitOperations.LeadingZeroCount(mask);
            if (Kvm.EagerPageSplit)
            {
                TrySplitHugePages(slot, start, end + 1);
            }

            SlotGfnWriteProtect(slot, start, minLevel: 2);
            if (start >> 9 != end >> 9)
            {
                SlotGfnWriteProtect(slot, end, minLevel: 2);
            }
        }

        if (Kvm.EnablePml)
        {
            ClearDirtyPtMasked(slot, gfn, mask);
        }
        else
        {
            WriteProtectPtMasked(slot, gfn, mask);
        }
    }

    /// <summary>kvm_mmu_try_split_huge_pages(): split the huge leaves over [start, end) down to 4K; returns how many.</summary>
    protected abstract int TrySplitHugePages(KvmMemorySlot slot, ulong start, ulong end);

    /// <summary>kvm_mmu_slot_remove_write_access(): clear W on the slot's leaves at or above <paramref name="minLevel"/>.</summary>
    protected abstract void SlotRemoveWriteAccess(KvmMemorySlot slot, int minLevel);

    /// <summary>
    /// kvm_mmu_recover_huge_pages(): map huge again where the slot allows; returns how many, and
    /// whether a flush is owed for those recovered since the walk last yielded (a yield flushes
    /// first and clears it: recover_huge_pages_range's "flush = false", walk_slot_rmaps' flush_on_yield).
    /// </summary>
    protected abstract (int Recovered, bool FlushOwed) RecoverHugePages(KvmMemorySlot slot);

    /// <summary>kvm_mmu_write_protect_pt_masked(): clear W on the 4K leaves of <paramref name="mask"/>'s pages from <paramref name="gfn"/>.</summary>
    protected abstract void WriteProtectPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask);

    /// <summary>
    /// kvm_mmu_slot_leaf_clear_dirty() (mmu.c): clear D on the slot's leaves, for PML. PML needs
    /// EPT (vmx.c hardware_setup), so only the TDP MMU on EPT is asked; TDP off is shadow paging.
    /// </summary>
    protected virtual void SlotLeafClearDirty(KvmMemorySlot slot) =>
        throw new InvalidOperationException($"PML needs EPT: the {Kind} MMU never clears D for it");

    /// <summary>kvm_mmu_clear_dirty_pt_masked() (mmu.c): clear D on the 4K leaves of <paramref name="mask"/>'s pages from <paramref name="gfn"/>, for PML (EPT only, as <see cref="SlotLeafClearDirty"/>).</summary>
    protected virtual void ClearDirtyPtMasked(KvmMemorySlot slot, ulong gfn, ulong mask) =>
        throw new InvalidOperationException($"PML needs EPT: the {Kind} MMU never clears D for it");

    /// <summary>kvm_arch_flush_shadow_memslot() with the slot-zap quirk off: zap the slot's SPTEs; returns whether a flush is owed.</summary>
    public abstract bool FlushShadowMemslot(KvmMemorySlot slot);

    /// <summary>kvm_mmu_zap_all_fast(): obsolete every root or page, so vCPUs reload; the memslot quirk's default on delete.</summary>
    public abstract void ZapAllFast();

    /// <summary>kvm_arch_flush_shadow_all() (the mm's .release): zap everything; returns whether a flush is owed.</summary>
    public abstract bool ZapAll();

    /// <summary>
    /// kvm_mmu_slot_gfn_write_protect(): clear W and MMU-writable on every leaf that maps
    /// <paramref name="gfn"/> at or above <paramref name="minLevel"/> (write tracking; huge pages
    /// under INITIALLY_SET); returns whether a flush is owed.
    /// </summary>
    public abstract bool SlotGfnWriteProtect(KvmMemorySlot slot, ulong gfn, int minLevel);

    /// <summary>kvm_mmu_track_write(): KVM emulated a guest write to <paramref name="gpa"/>.</summary>
    public abstract void TrackWrite(KvmVcpu vcpu, ulong gpa);

    /// <summary>The MMU's own invariants, checked after every operation (the common ones are <see cref="Kvm.Kvm.CheckInvariants"/>).</summary>
    public abstract void CheckInvariants(string after);

    /// <summary>The present leaves as (gfn, level, spte), for the common checker's rules.</summary>
    public abstract IEnumerable<(ulong Gfn, int Level, ulong Spte)> Leaves();

    /// <summary>
    /// The present leaves that map <paramref name="gfn"/>, with the host frame each maps it to:
    /// one under a TDP root, any number under shadow paging (one per guest mapping of the page).
    /// </summary>
    public IEnumerable<(int Level, ulong Spte, ulong Pfn)> LeavesFor(ulong gfn) =>
        Leaves()
            .Where(l => l.Gfn <= gfn && gfn < l.Gfn + TdpWalker.PagesPerHpage(l.Level))
            .Select(l => (l.Level, l.Spte, SpteMasks.ToPfn(l.Spte) + (gfn - l.Gfn)));

    /// <summary>The page tables as indented text: what scenarios snapshot.</summary>
    public abstract string Describe();

    /// <summary>
    /// make_spte() (spte.c), one for every MMU: present with the format's masks; Accessed unless a
    /// prefetch that is not a sync; non-executable when huge under the NX huge page mitigation; U,
    /// X or NX from <paramref name="pteAccess"/>; the memtype; Host-writable from the host page, and
    /// no W without it. A writable SPTE first asks mmu_try_to_unsync_pages() (skipped when the old
    /// leaf was writable already) and stays read-only if the answer is no (wrprot); else it is
    /// W, MMU-writable and Dirty. A prefetch that is not a sync is access-tracked. And once the
    /// SPTE is writable in a dirty-logged slot, the page is marked dirty, "*after* modifying it
    /// for access tracking" (mark_page_dirty_in_slot).
    /// </summary>
    public (ulong Spte, bool Wrprot) MakeSpte(int level, bool adDisabled, KvmMemorySlot slot, uint pteAccess, ulong gfn, ulong pfn, ulong oldSpte, bool prefetch, bool synchronizing, bool hostWritable)
    {
        var m = Masks;
        var spte = SpteMasks.MmuPresent | m.PresentMask;
        var wrprot = false;
        if (adDisabled)
        {
            spte |= SpteValues.SPTE_TDP_AD_DISABLED;
        }

        if (!prefetch || synchronizing)
        {
            spte |= m.AccessedMask;
        }

        if (level > 1 && (pteAccess & Acc.ACC_EXEC_MASK) != 0 && Kvm.NxHugePages)
        {
            pteAccess &= ~(uint)Acc.ACC_EXEC_MASK;
        }

        spte |= (pteAccess & Acc.ACC_EXEC_MASK) != 0 ? m.XMask : m.NxMask;
        if ((pteAccess & Acc.ACC_USER_MASK) != 0)
        {
            spte |= m.UserMask;
        }

        if (level > 1)
        {
            spte |= SpteMasks.PageSize;
        }

        spte |= m.MtMask;
        if (hostWritable)
        {
            spte |= m.HostWritableMask;
        }
        else
        {
            pteAccess &= ~(uint)Acc.ACC_WRITE_MASK;
        }

        spte |= pfn << 12;
        if ((pteAccess & Acc.ACC_WRITE_MASK) != 0)
        {
            if ((!SpteMasks.IsLast(oldSpte, level) || !SpteMasks.IsWritable(oldSpte)) && MmuTryToUnsyncPages(slot, gfn, synchronizing, prefetch))
            {
                wrprot = true;
            }
            else
            {
                spte |= SpteMasks.Writable | m.MmuWritableMask | m.DirtyMask;
            }
        }

        if (prefetch && !synchronizing)
        {
            spte = m.MarkForAccessTrack(spte);
        }

        if (SpteMasks.IsWritable(spte) && slot.DirtyTracked)
        {
            // Enforced by kvm_mmu_hugepage_adjust().
            KvmWarn.On(level > 1, $"make_spte: writable huge SPTE at gfn 0x{gfn:x} in a dirty-tracked slot");
            Kvm.MarkPageDirtyInSlot(slot, gfn);
        }

        return (spte, wrprot);
    }

    /// <summary>
    /// mmu_try_to_unsync_pages(): may a writable SPTE be made for <paramref name="gfn"/>? Not if
    /// it is write-tracked (page_track.c), nor, under shadow paging, if a shadow page of it may not
    /// become unsync. True means the SPTE must stay read-only.
    /// </summary>
    protected virtual bool MmuTryToUnsyncPages(KvmMemorySlot slot, ulong gfn, bool synchronizing, bool prefetch) => slot.IsWriteTracked(gfn);

    /// <summary>
    /// kvm_mmu_max_mapping_level(): 4K in a dirty-logged slot; otherwise the largest level the
    /// host maps (host_pfn_mapping_level) whose huge page the memslot allows (lpage_info's
    /// disallow_lpage: the slot's head and tail, a misaligned slot, a write-tracked or shadowed
    /// page in it) and whose memory attributes are not mixed.
    /// </summary>
    protected int MaxMappingLevel(KvmMemorySlot slot, ulong gfn)
    {
        if (slot.DirtyTracked)
        {
            return 1;
        }

        var level = Math.Min(Kvm.HostMappingLevel(slot, gfn), TdpWalker.MaxHugePageLevel);
        while (level > 1 && (slot.LpageDisallowed(gfn, level) || Kvm.AttributesMixed(gfn, level)))
        {
            level--;
        }

        return level;
    }

    /// <summary>Indentation of this MMU's lines in the VM's log: the shadow MMU's steps sit under the access they serve.</summary>
    protected virtual string LogIndent => "";

    /// <summary>A list for the gfns one call changes, or null while the log is off (nothing is kept then).</summary>
    protected List<ulong>? StartChanges() => Kvm.Log.Enabled ? [] : null;

    /// <summary>
    /// One log line for what one call of a kernel function changed: the function, the change and
    /// the gfns, so a snapshot shows which MMU's path each operation took. Nothing when nothing changed.
    /// </summary>
    protected void LogChanges(string function, string change, List<ulong>? gfns)
    {
        if (gfns is { Count: > 0 })
        {
            Kvm.Log.Add($"  {function}: {change} {GfnList.Describe(gfns)}");
        }
    }

    /// <summary>
    /// The end of a policy-driven walk, the same in both MMUs: the log line naming the kernel
    /// function, the flush a policy with Flush Always does itself, and the result: the pending
    /// flush for Flush OnChange (the caller's to do or carry), none for Flush Never (the change
    /// "never needs a TLB flush", so the walk reports none owed, as kvm_tdp_mmu_age_gfn_range's
    /// result is young-ness, not a flush), else whether any SPTE changed (Caller; Always, which
    /// flushed already).
    /// </summary>
    protected bool EndWalk(OperationPolicy policy, string function, string change, List<ulong>? gfns, bool changed, bool flush)
    {
        LogChanges(function, change, gfns);
        if (changed && policy.Flush == FlushPolicy.Always)
        {
            FlushRemoteTlbs(policy.Name);
        }

        return policy.Flush switch
        {
            FlushPolicy.OnChange => flush,
            FlushPolicy.Never => false,
            _ => changed,
        };
    }

    /// <summary>What a policy's Changes do to an SPTE, for the log: "zapped", "cleared W", "cleared W MMU-W".</summary>
    protected static string DescribeChange(OperationPolicy policy)
    {
        if ((policy.Changes & SpteChange.Zap) != 0)
        {
            return "zapped";
        }

        var bits = new List<string>();
        if ((policy.Changes & SpteChange.Writable) != 0) bits.Add("W");
        if ((policy.Changes & SpteChange.MmuWritable) != 0) bits.Add("MMU-W");
        if ((policy.Changes & SpteChange.Accessed) != 0) bits.Add("A");
        if ((policy.Changes & SpteChange.Dirty) != 0) bits.Add("D");
        return "cleared " + string.Join(' ', bits);
    }

    /// <summary>kvm_flush_remote_tlbs().</summary>
    protected void FlushRemoteTlbs(string reason) => Kvm.FlushRemoteTlbs(reason, LogIndent);

    /// <summary>What the policy says to record for a changed SPTE: dirty and accessed bits in the log and page.</summary>
    protected void Record(OperationPolicy policy, ulong gfn)
    {
        if (policy.RecordsDirty)
        {
            Kvm.MarkPageDirtyByPolicy(gfn);
        }

        if (policy.RecordsAccessed)
        {
            Kvm.MarkPageAccessed(gfn);
        }
    }
}
