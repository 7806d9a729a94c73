@shadow
Feature: Leaf page tables go unsync, and are synced on INVLPG, a TLB flush or a CR3 load
  mmu.rst: every guest page table KVM shadows is write-protected, except leaf tables, which may
  be unsync: the guest writes them directly and their SPTEs may be stale, "like a TLB", until the
  guest flushes. The first store to a shadowed 4K table faults; make_spte() ->
  mmu_try_to_unsync_pages() marks its shadow page unsync (kvm_unsync_page, and the path from the
  root in unsync_child_bitmap) and the mapping becomes writable. INVLPG syncs the SPTE of one
  address (kvm_mmu_invalidate_addr -> FNAME(sync_spte)); a TLB flush or CR3 load syncs every
  unsync page under the root and write-protects it again (kvm_mmu_sync_roots -> mmu_sync_children).

  Scenario: The first store to a shadowed 4K table unsyncs it, and the next one does not exit
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And vCPU 0 has made a user read to gva 0x400000
    When vCPU 0 sets W D in the Pte for gva 0x400000
    Then the access completes after 1 fault into KVM
    And the shadow page of the Pte table for gva 0x400000 is unsync
    When vCPU 0 clears W D in the Pte for gva 0x400000
    Then the access completes without a fault into KVM
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: Until INVLPG the vCPU may still use the old translation; INVLPG syncs it
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P W U A D
    And vCPU 0 has made a user write to gva 0x400000
    And vCPU 0 has cleared P in the Pte for gva 0x400000
    When vCPU 0 makes a user read to gva 0x400000
    Then the access reads the value last stored
    And the access completes without a fault into KVM
    When vCPU 0 executes INVLPG for gva 0x400000
    Then the SPTE for gva 0x400000 is not present
    When vCPU 0 makes a user read to gva 0x400000
    Then the guest takes a #PF with error code U
    And the log matches the snapshot

  Scenario: A CR3 load syncs every unsync page and write-protects it again
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And the guest maps gva 0x401000 to gpa 0x1001000 with PTE flags P U A
    And vCPU 0 has made a user read to gva 0x400000
    And vCPU 0 has set W D in the Pte for gva 0x400000
    And vCPU 0 has cleared P in the Pte for gva 0x401000
    When vCPU 0 reloads CR3
    Then the shadow page of the Pte table for gva 0x400000 is synced
    And the SPTE for gva 0x400000 is P W U A D MMU-W HOST-W
    And the SPTE for gva 0x401000 is not present
    And the direct-map SPTE for the Pte table of gva 0x400000 is P A D HOST-W
    When vCPU 0 sets P in the Pte for gva 0x401000
    Then the access completes after 1 fault into KVM
    And the shadow page of the Pte table for gva 0x400000 is unsync
    And the log matches the snapshot
