@memslots
Feature: Memslot deletion, moves and the mm going away
  A deleted or moved memslot loses its SPTEs before the change is visible
  (kvm_arch_flush_shadow_memslot), and .release zaps everything (kvm_flush_shadow_all).

  Background:
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10

  @kvm
  Scenario: Deleting a memslot zaps its SPTEs and makes its GFNs MMIO
    When memslot 0 is deleted
    Then gfn 0x10 has no SPTE
    When vCPU 0 reads gfn 0x10
    Then gfn 0x10 has no SPTE
    And the log matches the snapshot

  @kvm
  Scenario: A moved memslot is faulted in at its new GFNs
    When memslot 0 is moved to gfn 0x1000
    And vCPU 0 reads gfn 0x1010
    Then gfn 0x10 has no SPTE
    And the SPTE for gfn 0x1010 maps the host page behind it, writable

  Scenario: Release zaps every SPTE and frees every page table
    When the process's mm is released
    Then no SPTE is present

  @kvm @host-faults-as-mmio
  Scenario: After munmap a fault cannot bring the page back
    When the host munmaps gfns [0x10, 0x11)
    Then gfn 0x10 has no SPTE
    When vCPU 0 reads gfn 0x10
    Then vCPU 0 exited to userspace with -EFAULT
    And gfn 0x10 has no SPTE

  # kvm_arch_flush_shadow_memslot(): with KVM_X86_QUIRK_SLOT_ZAP_ALL (on by default, off for a
  # TDX VM) a deleted slot costs every SPTE (kvm_mmu_zap_all_fast); with the quirk disabled
  # (KVM_CAP_DISABLE_QUIRKS2) only the slot's own (kvm_mmu_zap_memslot).
  @kvm
  Scenario: Deleting one memslot zaps every SPTE (the quirk on)
    Given memslot 1 maps 512 pages at gfn 0x1000 with 4K host pages
    And vCPU 0 has written gfn 0x1010
    When memslot 0 is deleted
    Then gfn 0x1010 has no SPTE

  @kvm
  Scenario: With KVM_X86_QUIRK_SLOT_ZAP_ALL disabled, deleting a memslot zaps only its own SPTEs
    Given the KVM_X86_QUIRK_SLOT_ZAP_ALL quirk is disabled
    And memslot 1 maps 512 pages at gfn 0x1000 with 4K host pages
    And vCPU 0 has written gfn 0x1010
    When memslot 0 is deleted
    Then gfn 0x10 has no SPTE
    And the SPTE for gfn 0x1010 maps the host page behind it, writable
    And the log matches the snapshot
