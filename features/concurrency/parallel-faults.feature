@concurrency
Feature: Parallel faults and invalidations, every interleaving
  The TDP MMU handles faults under the read side of mmu_lock, so two vCPUs walk and change the
  same tables at once: each SPTE is installed by cmpxchg (tdp_mmu_set_spte_atomic), and a vCPU
  whose cmpxchg loses gets -EBUSY, its walk's SPTE refreshed, and RET_PF_RETRY. The MMU notifier
  zaps under the write side and bumps mmu_invalidate_seq, so a fault that resolved its page
  before an invalidation retries (is_page_fault_stale). Each scenario explores every
  interleaving of its operations' steps with at most two preemptions.

  Background:
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages

  Scenario: Two vCPUs fault the same gfn for a write
    When vCPU 0 and vCPU 1 fault gfn 0x10 for a write concurrently
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Two vCPUs fault different gfns of one page table
    When vCPU 0 faults gfn 0x10 for a write while vCPU 1 faults gfn 0x11 for a read
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A fault races an MMU notifier invalidation of its gfn
    When vCPU 0 faults gfn 0x10 for a write while the MMU notifier invalidates gfns [0x10, 0x11)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The Lock line is live: the unmap taking mmu_lock for read lets a fault in
    With the write side the fault and the zap never overlap; with the read side the fault can
    pass is_page_fault_stale before the invalidation begins and install its SPTE after the zap
    has passed, and tdp_mmu_zap_leafs' lockdep_assert_held_write fires on entry, whatever the
    interleaving.
    Given the UnmapGfnRange operation takes mmu_lock for read
    When vCPU 0 faults gfn 0x10 for a write while the MMU notifier invalidates gfns [0x10, 0x11)
    Then in some interleavings the checker reports "SPTE installed during invalidation"
    And in every interleaving the checker reports "lockdep"
    And the exploration matches the snapshot

  Scenario: A zap yields mmu_lock to a fault that spins on it, flushing first
    tdp_mmu_zap_leafs() calls tdp_mmu_iter_cond_resched() at each SPTE once it has made progress:
    with a vCPU spinning on mmu_lock (rwlock_needbreak) it flushes what it zapped, drops the lock,
    takes it again and restarts its walk from the root at the next GFN.
    Given before the operations vCPU 0 has faulted gfn 0x10 for a read
    And before the operations vCPU 0 has faulted gfn 0x11 for a read
    When vCPU 1 faults gfn 0x12 for a write while the MMU notifier invalidates gfns [0x10, 0x12)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot
