@tdx
Feature: Private and shared memory in a TDX VM
  A TDX VM has a mirror root for private memory, kept in step with the S-EPT through the
  external hooks, and a direct root for shared memory, whose GFNs carry the shared bit (GPA
  bit 47). Each unmap zaps the roots its caller's range selects (seed 003; the merged
  kernel's attr_filter): HVA notifiers the shared side, guest_memfd the private side,
  attribute changes the old alias, a memslot both. Private pages come from guest_memfd and
  are mapped 4K only, with no fast page fault.

  Background:
    Given a TDX VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And gfns [0x10, 0x20) are private

  Scenario: Private pages survive an HVA notifier
    Given vCPU 0 has written private gfn 0x10
    And vCPU 0 has written shared gfn 0x30
    When the host swaps out gfns [0x0, 0x40)
    Then the S-EPT maps gfn 0x10
    And shared gfn 0x30 has no SPTE
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: A shared-to-private conversion zaps the shared alias only
    Given vCPU 0 has written private gfn 0x10
    And vCPU 0 has written shared gfn 0x30
    When gfns [0x30, 0x31) are converted to private
    Then shared gfn 0x30 has no SPTE
    And the S-EPT maps gfn 0x10
    When vCPU 0 writes private gfn 0x30
    Then the S-EPT maps gfn 0x30
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: An access that disagrees with the attribute exits to userspace
    When vCPU 0 writes shared gfn 0x10
    Then vCPU 0 exited to userspace with KVM_EXIT_MEMORY_FAULT
    When vCPU 0 writes private gfn 0x30
    Then vCPU 0 exited to userspace with KVM_EXIT_MEMORY_FAULT

  Scenario: Private pages map 4K, and shared huge pages stop where the attributes mix
    Given vCPU 0 has written private gfn 0x10
    When vCPU 0 writes shared gfn 0x205
    And vCPU 0 writes shared gfn 0x30
    Then the SPTE tree matches the snapshot
