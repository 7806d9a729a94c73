@concurrency
Feature: KVM_CLEAR_DIRTY_LOG of a range racing a vCPU's write
  Under manual protection userspace learns which pages are dirty from KVM_GET_DIRTY_LOG and
  re-arms only the pages it is about to copy by KVM_CLEAR_DIRTY_LOG of a range
  (kvm_clear_dirty_log_protect): first_page a multiple of 64, num_pages one too unless the range
  ends at the slot's end, else -EINVAL. Under mmu_lock, taken once for the whole range, for each
  word it clears the bits of its mask that really were set (atomic_long_fetch_andnot) and
  re-protects those pages; then it unlocks and flushes the memslot. A page whose bit userspace did not clear stays pending: userspace
  has not copied it, so a write to it must still be in the bitmap once all is done.

  Background:
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    And the memslot logs dirty pages
    And the dirty log is protected manually
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    And before the operations userspace has fetched the dirty log
    And before the operations vCPU 0 has faulted gfn 0x10 for a write

  Scenario: A write through the page races the clear of the word that holds it
    When vCPU 1 faults gfn 0x10 for a write while userspace clears the dirty log of gfns [0x0, 0x40)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A clear of another word leaves the written page pending
    When vCPU 1 faults gfn 0x10 for a write while userspace clears the dirty log of gfns [0x40, 0x80)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A range that starts inside a word is refused with -EINVAL and clears nothing
    When vCPU 1 faults gfn 0x10 for a write while userspace clears the dirty log of gfns [0x10, 0x50)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot
