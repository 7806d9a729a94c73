@shadow
Feature: Syncing an unsync page whose gPTEs are MMIO, or cannot be read
  FNAME(sync_spte) (paging_tmpl.h) hands an MMIO SPTE to sync_mmio_spte(): dropped if the gPTE
  now names another frame (the next access walks again), else remade with the gPTE's access.
  It returns -1 when the gPTE cannot be read (kvm_vcpu_read_guest_atomic fails), and
  kvm_sync_page() then zaps the whole shadow page ("if (ret < 0) kvm_mmu_prepare_zap_page").

  Background:
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0xfee00000 with PTE flags P W U A D
    And the guest maps gva 0x401000 to gpa 0x1001000 with PTE flags P W U A D
    And vCPU 0 has made a user read to gva 0x400000
    And vCPU 0 has made a user read to gva 0x401000

  Scenario: An access to an unbacked gpa exits with KVM_EXIT_MMIO and leaves an MMIO SPTE
    Then the SPTE for gva 0x400000 is MMIO gfn 0xfee00
    When vCPU 0 makes a user read to gva 0x400000
    Then vCPU 0 exited to userspace with KVM_EXIT_MMIO
    And vCPU 0's KVM_EXIT_MMIO is a read of 8 bytes at gpa 0xfee00000

  Scenario: An MMIO SPTE whose gPTE names another frame is dropped by the sync
    When vCPU 0 rewrites the Pte for gva 0x401000 unchanged
    And vCPU 0 points the Pte for gva 0x400000 at gpa 0x1002000
    Then the shadow page of the Pte table for gva 0x400000 is unsync
    When vCPU 0 executes INVLPG for gva 0x400000
    Then the SPTE for gva 0x400000 is not present
    When vCPU 0 makes a user read to gva 0x400000
    Then the access completes after 1 fault into KVM
    And the log matches the snapshot

  Scenario: An MMIO SPTE whose gPTE only changed its access is remade
    When vCPU 0 rewrites the Pte for gva 0x401000 unchanged
    And vCPU 0 clears W in the Pte for gva 0x400000
    And vCPU 0 executes INVLPG for gva 0x400000
    Then the SPTE for gva 0x400000 is MMIO gfn 0xfee00
    And the log matches the snapshot

  Scenario: A gPTE that cannot be read zaps the whole shadow page
    When vCPU 0 rewrites the Pte for gva 0x401000 unchanged
    And the host munmaps the page of the Pte table for gva 0x400000
    And vCPU 0 flushes its TLB
    Then the Pte table for gva 0x400000 is shadowed by 0 pages
    And the log matches the snapshot
