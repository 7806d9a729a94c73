@concurrency
Feature: Dirty logging turned on while a vCPU writes
  KVM_SET_USER_MEMORY_REGION adding KVM_MEM_LOG_DIRTY_PAGES publishes a copy of the memslot with
  the flag and a bitmap (kvm_swap_active_memslots), waits in synchronize_srcu_expedited() for
  every vCPU that may still act on the old slot (a vCPU holds kvm->srcu from a VM exit until it
  re-enters the guest), then kvm_mmu_slot_apply_flags() write-protects the slot:
  kvm_mmu_slot_remove_write_access() takes mmu_lock for read and wrprot_gfn_range() clears W by
  tdp_mmu_set_spte_atomic(), retrying a cmpxchg a fault beat; with PML,
  kvm_mmu_slot_leaf_clear_dirty() clears D first and only 2M and up lose W. The TLBs are flushed
  before the ioctl returns. Userspace copies the whole slot after that, so a write racing the
  ioctl need not be logged, and every write after it must be.

  Scenario: A write fault on an unmapped page races the start of dirty logging
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And before the operations vCPU 0 has faulted gfn 0x3 for a write
    When vCPU 1 faults gfn 0x5 for a write while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A write through a writable SPTE races its write-protection
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And before the operations vCPU 0 has faulted gfn 0x3 for a write
    When vCPU 1 faults gfn 0x3 for a write while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: With PML the start of dirty logging clears D instead of W on 4K pages
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And the concurrent VM logs dirty pages with PML
    And before the operations vCPU 0 has faulted gfn 0x3 for a write
    When vCPU 1 faults gfn 0x3 for a write while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: With PML a write fault on an unmapped page races the clearing of D
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And the concurrent VM logs dirty pages with PML
    And before the operations vCPU 0 has faulted gfn 0x3 for a write
    When vCPU 1 faults gfn 0x5 for a write while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A huge page mapped from the old slot is write-protected and split by the next write
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 2M host pages
    And the concurrent VM does not split huge pages eagerly
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    When vCPU 1 faults gfn 0x10 for a write while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The Lock line is live: write-protecting under the write lock lets no fault in between
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And the WrprotGfnRange operation takes mmu_lock for write
    And before the operations vCPU 0 has faulted gfn 0x3 for a write
    When vCPU 1 faults gfn 0x5 for a write while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Without synchronize_srcu a fault on the old slot maps a page writable that the log never sees
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And the memslot update does not wait for the vCPUs' SRCU read sections
    When vCPU 1 faults gfn 0x5 for a write while userspace enables dirty logging
    Then in some interleavings the checker reports "dirty page lost"
    And the exploration matches the snapshot

  Scenario: An invalidation the write-protection yields to, and that the slot swap waits for
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    And before the operations vCPU 0 has faulted gfn 0x3 for a write
    And before the operations vCPU 0 has faulted gfn 0x4 for a write
    And before the operations vCPU 1 has faulted gfn 0x9 for a write
    When the MMU notifier invalidates gfns [0x3, 0x5) while userspace enables dirty logging
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot
