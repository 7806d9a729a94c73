@shadow
Feature: CR0.WP=0 and SMEP under shadow paging
  A shadow-paging guest runs with CR0.WP=1 in hardware (vmx.c KVM_VM_CR0_ALWAYS_ON), so KVM
  emulates the guest's CR0.WP=0 in its SPTEs (mmu.rst "Emulating cr0.wp"; FNAME(page_fault)): a
  supervisor write to a read-only page is mapped writable and supervisor-only, and a user access
  then exits and the page is mapped user-readable again. With CR4.SMEP the kernel-writable SPTE is
  also NX, or the guest kernel could execute a user page through it, which SMEP forbids. CR0.WP and
  smep_andnot_wp are part of a shadow page's role, so SPTEs made under CR0.WP=0 are not used under
  CR0.WP=1, and are found again when CR0.WP goes back to 0.

  Scenario: A supervisor write under CR0.WP=0 maps a read-only user page as a writable kernel page
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest's vCPUs boot with CR0.WP=0
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    When vCPU 0 makes a supervisor write to gva 0x400000
    Then the access completes after 1 fault into KVM
    And the SPTE for gva 0x400000 is P W A D MMU-W HOST-W
    When vCPU 0 makes a user read to gva 0x400000
    Then the access completes after 1 fault into KVM
    And the access reads the value last stored
    And the SPTE for gva 0x400000 is P U A HOST-W
    And the log matches the snapshot

  Scenario: With SMEP, the kernel-writable SPTE of a user page is NX, so a supervisor fetch faults
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest's vCPUs boot with CR0.WP=0, CR4.SMEP=1
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    When vCPU 0 makes a supervisor write to gva 0x400000
    Then the access completes after 1 fault into KVM
    And the SPTE for gva 0x400000 is P W A D MMU-W HOST-W NX
    When vCPU 0 makes a supervisor fetch to gva 0x400000
    Then the guest takes a #PF with error code P|I/D
    And the SPTE tree matches the snapshot

  Scenario: Toggling CR0.WP switches to shadow pages of the other role, and back
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest's vCPUs boot with CR0.WP=0
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And vCPU 0 has made a supervisor write to gva 0x400000
    When vCPU 0 sets CR0.WP=1 in its control registers
    And vCPU 0 makes a supervisor read to gva 0x400000
    Then the access reads the value last stored
    When vCPU 0 makes a supervisor write to gva 0x400000
    Then the guest takes a #PF with error code P|W
    And the Pte table for gva 0x400000 is shadowed by 2 pages
    And the SPTE tree matches the snapshot
    When vCPU 0 sets CR0.WP=0 in its control registers
    And vCPU 0 makes a supervisor write to gva 0x400000
    Then the access completes without a fault into KVM
    And the log matches the snapshot
