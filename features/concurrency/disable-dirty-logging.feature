@concurrency
Feature: Dirty logging turned off while a vCPU writes
  KVM_SET_USER_MEMORY_REGION dropping KVM_MEM_LOG_DIRTY_PAGES (a cancelled migration) publishes
  a copy of the memslot without the flag or a bitmap (kvm_swap_active_memslots), waits in
  synchronize_srcu_expedited() for the vCPUs still on the old slot, then
  kvm_mmu_slot_apply_flags() recovers the slot's huge pages: kvm_mmu_recover_huge_pages() takes
  mmu_lock for read, and recover_huge_pages_range() replaces each table the slot may map huge by
  a huge SPTE made from the first leaf below it (tdp_mmu_make_huge_spte, make_huge_spte), by
  tdp_mmu_set_spte_atomic(), then frees the table after a grace period. A fault on the new slot
  may map the same huge page meanwhile: whichever cmpxchg comes second fails and looks again.

  Scenario: A write fault that maps the huge page races its recovery
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 2M host pages
    And the memslot logs dirty pages
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    When vCPU 1 faults gfn 0x11 for a write while userspace disables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A write to the page the huge SPTE is made from races its recovery
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 2M host pages
    And the memslot logs dirty pages
    And before the operations vCPU 0 has faulted gfn 0x10 for a read
    When vCPU 1 faults gfn 0x10 for a write while userspace disables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The Lock line is live: recovery under the write lock lets no fault in between
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 2M host pages
    And the memslot logs dirty pages
    And the RecoverHugePages operation takes mmu_lock for write
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    When vCPU 1 faults gfn 0x11 for a write while userspace disables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot
