@concurrency
Feature: A memslot deleted or moved while a vCPU faults on it
  KVM_SET_USER_MEMORY_REGION with memory_size 0 (KVM_MR_DELETE) runs kvm_set_memslot()
  (kvm_main.c): kvm_invalidate_memslot() publishes a copy of the slot marked KVM_MEMSLOT_INVALID
  (kvm_swap_active_memslots, then synchronize_srcu_expedited), kvm_arch_flush_shadow_memslot()
  zaps the slot's SPTEs and flushes the TLBs if it zapped any (kvm_mmu_zap_memslot, with
  KVM_X86_QUIRK_SLOT_ZAP_ALL disabled), and kvm_delete_memslot() swaps the slot out. A fault
  that finds the invalid slot retries (mmu.c kvm_mmu_faultin_pfn: "This ensures any existing
  SPTEs for the old memslot will be zapped before KVM inserts a new MMIO SPTE for the gfn"), so
  it takes the no-slot path, an MMIO SPTE and an exit, only once the slot is gone. When the
  ioctl returns, no SPTE and no TLB entry may map a page of the deleted slot.

  Before e0c378684b65 ("KVM: x86/mmu: Retry page faults that hit an invalid memslot", 2021) the
  fault treated the invalid slot as none and installed its MMIO SPTE over the present SPTE the
  zap had yet to reach, without a flush (spec/variants/invalid-memslot-as-mmio-2021.policy).
  Here the slot is read-only: vCPU 0 has read gfn 0x3 and holds its translation in its TLB, and
  vCPU 1's write finds the read-only SPTE, which the fast path cannot make writable. The zap then
  finds nothing present and flushes nothing, and vCPU 0's TLB still maps the page.

  A move (KVM_MR_MOVE) invalidates and zaps the same way, then kvm_move_memslot() publishes the
  slot at its new base over the same host memory. When it returns, every mapping of an old gfn
  must be what the memslots map there now: nothing, or, where the new range overlaps the old,
  the page the moved slot puts there (gfn 0x3 is the slot's page 1 once it starts at gfn 0x2).

  Background:
    Given the concurrent VM has the KVM_X86_QUIRK_SLOT_ZAP_ALL quirk disabled
    And the memslot is read-only
    And before the operations vCPU 0 has faulted gfn 0x3 for a read

  Scenario: A write fault on a read-only page races the delete of its memslot
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x3 for a write while userspace deletes the memslot
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A read fault on an unmapped page races the delete of its memslot
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x5 for a read while userspace deletes the memslot
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Before e0c378684b65 the fault's MMIO SPTE hides the page from the delete's flush
    Given a concurrent VM under the InvalidMemslotAsMmio2021 model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x3 for a write while userspace deletes the memslot
    Then in some interleavings the checker reports "deleted memslot still mapped"
    And the exploration matches the snapshot

  Scenario: A read fault on the new range races a move of its memslot
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x13 for a read while userspace moves the memslot to gfn 0x10
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A write fault on a read-only page races a move of its memslot onto an overlapping range
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x3 for a write while userspace moves the memslot to gfn 0x2
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Before e0c378684b65 the same race leaves the old gfn mapped after a move
    Given a concurrent VM under the InvalidMemslotAsMmio2021 model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x3 for a write while userspace moves the memslot to gfn 0x10
    Then in some interleavings the checker reports "deleted memslot still mapped"
    And the exploration matches the snapshot
