// The closed sets of spec/**/*.policy: the operations the runtime runs and the values each
// policy key takes. This one file is compiled into the runtime and into the spec generator
// (generators/Spec links it), so the generator checks a spec against the runtime's own enums
// and a name the runtime does not have is a SPEC diagnostic at the spec line, not a run-time
// surprise. Member order is the order diagnostics list the values in.
#if SPECKIT_SPEC_GENERATOR
namespace SpecKit.Generators.Spec.RuntimeValues
#else
namespace SpecKit.Mmu.Policy
#endif
{
    /// <summary>
    /// The MMU operations whose policy the spec declares, one per kernel function. Each is a
    /// typed member of <c>MmuRules</c>; the base spec must declare every one (SPEC041), and an
    /// Operation block naming anything else is SPEC040.
    /// </summary>
    public enum MmuOperation
    {
        /// <summary>tdp_mmu_zap_leafs().</summary>
        ZapLeafs,

        /// <summary>tdp_mmu_zap_root().</summary>
        ZapRoot,

        /// <summary>wrprot_gfn_range().</summary>
        WrprotGfnRange,

        /// <summary>clear_dirty_gfn_range().</summary>
        ClearDirtyGfnRange,

        /// <summary>clear_dirty_pt_masked().</summary>
        ClearDirtyPtMasked,

        /// <summary>kvm_tdp_mmu_write_protect_gfn().</summary>
        WriteProtectGfn,

        /// <summary>tdp_mmu_split_huge_pages_root().</summary>
        SplitHugePages,

        /// <summary>recover_huge_pages_range().</summary>
        RecoverHugePages,

        /// <summary>kvm_tdp_mmu_age_gfn_range().</summary>
        AgeGfnRange,

        /// <summary>.change_pte() (kvm_set_spte_gfn).</summary>
        ChangePte,

        /// <summary>kvm_tdp_mmu_unmap_gfn_range()'s choice of roots.</summary>
        UnmapGfnRange,

        /// <summary>FNAME(sync_spte).</summary>
        SyncSpte,

        /// <summary>kvm_tdp_mmu_page_fault() with kvm_mmu_faultin_pfn() before it.</summary>
        TdpPageFault,
    }

    /// <summary>Which side of mmu_lock an operation holds (lockdep_assert_held / _read / _write), or none (RCU only).</summary>
    public enum MmuLock
    {
        Read,
        Write,
        None,
    }

    public enum Visits
    {
        Leaves,
        AllLevels,
    }

    [System.Flags]
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
    /// Key SpteWrite: how an exclusive write of an SPTE with volatile bits (spte_needs_atomic_update)
    /// is made: kvm_tdp_mmu_write_spte() for tdp_mmu_zap_leafs(), tdp_mmu_clear_spte_bits() for
    /// clear_dirty_pt_masked(). An operation that does not give the key makes it as the kernel does now.
    /// </summary>
    public enum VolatileSpteWrite
    {
        /// <summary>ba3a6120a4e7 (2022, "Use atomic XCHG to write TDP MMU SPTEs with volatile bits"): xchg, and the value it returns is the old SPTE.</summary>
        XchgWhenVolatile,

        /// <summary>Before it: WRITE_ONCE, and handle_changed_spte() is given the walk's old value, so A/D bits set since are lost.</summary>
        WriteOnce,
    }

    /// <summary>
    /// Key AfterYield: where a TDP MMU walk goes on after tdp_mmu_iter_cond_resched() dropped and
    /// retook mmu_lock. An operation that does not give the key does what the kernel does now.
    /// </summary>
    public enum YieldRestart
    {
        /// <summary>3a0f64de479c (2021, "Don't advance iterator after restart due to yielding"): tdp_iter_next() sees iter->yielded and restarts from the root at next_last_level_gfn, where the walk yielded, without advancing.</summary>
        Restart,

        /// <summary>Before it: tdp_mmu_iter_cond_resched() restarted the iterator itself, and the loop's tdp_iter_next() then advanced it, so at min_level == root_level try_step_side() skipped the entry the walk had yielded at, unvisited.</summary>
        RestartThenAdvance,
    }

    /// <summary>
    /// Key InvalidSlot: what a page fault does with a memslot that is being deleted or moved
    /// (KVM_MEMSLOT_INVALID, published by kvm_invalidate_memslot before the slot's SPTEs are
    /// zapped). An operation that does not give the key does what the kernel does now.
    /// </summary>
    public enum InvalidSlotFault
    {
        /// <summary>e0c378684b65 (2021, "KVM: x86/mmu: Retry page faults that hit an invalid memslot"): mmu.c kvm_mmu_faultin_pfn returns RET_PF_RETRY, so the vCPU re-enters the guest and faults again until the slot is gone.</summary>
        Retry,

        /// <summary>Before it: __gfn_to_hva_many() gave KVM_HVA_ERR_BAD for an invalid slot, so the pfn was KVM_PFN_NOSLOT and the fault went on as MMIO, installing an MMIO SPTE (make_mmio_spte) where a present SPTE of the old slot may still be.</summary>
        AsNoSlot,
    }
}
