@concurrency
Feature: Harvesting the dirty ring and KVM_RESET_DIRTY_RINGS racing vCPU faults
  With KVM_CAP_DIRTY_LOG_RING a fault that makes a page writable pushes it to the running vCPU's
  ring (make_spte -> mark_page_dirty_in_slot -> kvm_dirty_ring_push) before its cmpxchg installs
  the SPTE, both under read_lock(mmu_lock). Userspace harvests entries flagged exactly DIRTY by
  flagging them RESET, then KVM_RESET_DIRTY_RINGS frees them (kvm_dirty_ring_reset) and
  re-protects their pages under KVM_MMU_LOCK (kvm_reset_dirty_gfn), write_lock on x86, so it
  waits for a fault between its push and its install. The contract (api.rst,
  KVM_CAP_DIRTY_LOG_RING): "the ioctl must be called *before* reading the content of the dirty
  pages", so a write before the ioctl returns is in what userspace reads, and a page written after
  it must be pushed again, in an entry not yet harvested once all is done.

  Background:
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    And the concurrent VM has a dirty ring of 512 entries
    And the memslot logs dirty pages
    And before the operations vCPU 0 has faulted gfn 0x10 for a write

  Scenario: A write through the harvested page's writable SPTE races its harvest and re-protection
    When vCPU 1 faults gfn 0x10 for a write while userspace harvests and resets the dirty rings
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A write fault pushes a page the harvest collects before the fault has installed its SPTE
    When vCPU 1 faults gfn 0x20 for a write while userspace harvests and resets the dirty rings
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The Lock line is live: a reset under the read lock re-protects before the fault installs its SPTE
    Given the ClearDirtyPtMasked operation takes mmu_lock for read
    When vCPU 1 faults gfn 0x20 for a write while userspace harvests and resets the dirty rings
    Then in some interleavings the checker reports "dirty page lost"
    And the exploration matches the snapshot
