@concurrency
Feature: The fast page fault racing the dirty log's re-protection
  While dirty logging, fetching the log write-protects the pages it reports: under mmu_lock, taken
  once for the whole bitmap, KVM_GET_DIRTY_LOG (kvm_get_dirty_log_protect) takes each bitmap word
  by xchg, or KVM_CLEAR_DIRTY_LOG (kvm_clear_dirty_log_protect) by atomic_long_fetch_andnot, and
  clear_dirty_pt_masked() clears W in its pages (tdp_mmu_clear_spte_bits: atomic when
  spte_needs_atomic_update, as the fast path may set W meanwhile); the TLBs are flushed after the
  unlock, before the ioctl returns. A vCPU's write
  meanwhile faults into fast_page_fault(), which restores W from MMU-writable by cmpxchg without
  mmu_lock and marks the page dirty after the cmpxchg (fast_pf_fix_direct_spte); a write through
  a still-writable SPTE needs no fault. Whatever the order, a page written after the fetch that
  reported it returned is pending in the bitmap once all is done, and no page is reported
  without a write since its last report.

  Background:
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    And the memslot logs dirty pages
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    And before the operations userspace has fetched the dirty log

  Scenario: A write through a re-protected page races a KVM_GET_DIRTY_LOG with nothing to report
    When vCPU 1 faults gfn 0x10 for a write while userspace fetches the dirty log
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The fast page fault has made the page writable again when KVM_GET_DIRTY_LOG re-protects it
    Given before the operations vCPU 0 has faulted gfn 0x10 for a write
    When vCPU 1 faults gfn 0x10 for a write while userspace fetches the dirty log
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The same race with KVM_CLEAR_DIRTY_LOG under manual protection
    Given the dirty log is protected manually
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    When vCPU 1 faults gfn 0x10 for a write while userspace fetches the dirty log
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A fault on another page waits while KVM_GET_DIRTY_LOG re-protects under the write lock
    Given before the operations vCPU 0 has faulted gfn 0x10 for a write
    When vCPU 1 faults gfn 0x20 for a write while userspace fetches the dirty log
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot
