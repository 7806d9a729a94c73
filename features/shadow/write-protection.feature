@shadow
Feature: Shadowed guest page tables are write-protected; stores to them unsync them or are emulated
  account_shadowed(): an upper-level table KVM shadows is write-tracked (page_track.c) and every
  SPTE that maps it is made read-only; a 4K table only has those SPTEs write-protected, since it
  may go unsync instead. A store to a write-tracked table is RET_PF_WRITE_PROTECTED: KVM emulates
  it, and kvm_mmu_track_write() zaps the SPTE that shadowed the entry written. Three emulated
  stores to one table with no walk through it in between are write flooding
  (detect_write_flooding): KVM zaps the shadow page, and the table is no longer protected.

  Background:
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P W U A D
    And vCPU 0 has made a user read to gva 0x400000

  Scenario: Shadowing write-tracks the upper-level tables and write-protects every table
    When vCPU 0 makes a supervisor read to the Pde table of gva 0x400000 through the direct map
    And vCPU 0 makes a supervisor read to the Pte table of gva 0x400000 through the direct map
    Then the Pml4e table for gva 0x400000 is write-tracked
    And the Pdpte table for gva 0x400000 is write-tracked
    And the Pde table for gva 0x400000 is write-tracked
    And the Pte table for gva 0x400000 is untracked
    And the direct-map SPTE for the Pde table of gva 0x400000 is P A HOST-W
    And the direct-map SPTE for the Pte table of gva 0x400000 is P A HOST-W
    And the SPTE tree matches the snapshot

  Scenario: A store to a page directory is emulated and zaps the SPTE that shadowed the entry
    When vCPU 0 rewrites the Pde for gva 0x400000 unchanged
    Then the access completes after 1 fault into KVM
    And the Pde table for gva 0x400000 is write-tracked
    When vCPU 0 makes a user read to gva 0x400000
    Then the access completes after 1 fault into KVM
    And the log matches the snapshot

  Scenario: Three emulated stores in a row to a page directory unprotect it
    When vCPU 0 rewrites the Pde for gva 0x400000 unchanged
    And vCPU 0 rewrites the Pde for gva 0x400000 unchanged
    And vCPU 0 rewrites the Pde for gva 0x400000 unchanged
    Then the Pde table for gva 0x400000 is shadowed by 0 pages
    And the Pde table for gva 0x400000 is untracked
    When vCPU 0 rewrites the Pde for gva 0x400000 unchanged
    Then the access completes after 1 fault into KVM
    When vCPU 0 rewrites the Pde for gva 0x400000 unchanged
    Then the access completes without a fault into KVM
    And the log matches the snapshot
