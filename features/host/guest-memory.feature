@host
Feature: What the guest stores survives the primary MMU's changes
  Host pages hold the guest's data. Migration, a KSM merge with its copy-on-write break,
  and swap-out move the data to other host pages; KVM's MMU notifiers must make the guest
  follow, or its stores land in a page the host has already left behind.

  Background:
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has stored 0xc0ffee at gpa 0x3010

  Scenario: Migration moves the data, and the guest follows
    When the host migrates the page behind gfn 0x3
    Then vCPU 0 loads 0xc0ffee from gpa 0x3010
    And the SPTE for gfn 0x3 maps the host page behind it, writable

  Scenario: A KSM merge shares the data read-only; a guest store breaks the sharing
    When KSM merges the page behind gfn 0x3
    Then vCPU 0 loads 0xc0ffee from gpa 0x3010
    And the SPTE for gfn 0x3 maps the host page behind it, read-only
    When vCPU 0 stores 0xbeef at gpa 0x3018
    Then userspace reads 0xbeef at gpa 0x3018
    And userspace reads 0xc0ffee at gpa 0x3010
    And the SPTE for gfn 0x3 maps the host page behind it, writable
    And the log matches the snapshot

  Scenario: Swap-out and the next fault bring the data back
    When the host swaps out gfns [0x0, 0x10)
    Then gfn 0x3 has no SPTE
    And vCPU 0 loads 0xc0ffee from gpa 0x3010
