@tdx
Feature: Which roots an unmap walks, at run time
  The same unmaps as features/tdx/unmap-designs.feature, run against a VM's roots: a hole
  punched in guest_memfd under each design of kvm_tdp_mmu_unmap_gfn_range, and invalid roots,
  which unmaps walk (a vCPU may still use one) and aging does not.

  Scenario Outline: A hole punched in guest_memfd under the <model> model
    Given a TDX VM under the <model> model with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 4K host pages
    And gfns [0x10, 0x20) are private
    And vCPU 0 has written private gfn 0x10
    And vCPU 0 has written shared gfn 0x30
    When a hole is punched in guest_memfd over gfns [0x0, 0x40)
    Then the S-EPT does not map gfn 0x10
    And shared gfn 0x30 <shared alias after>
    And the log matches the snapshot

    Examples:
      | model            | shared alias after |
      | base             | has an SPTE        |
      | TdxExcludeFlags  | has an SPTE        |
      | TdxZapPrivateV19 | has no SPTE        |

  Scenario: Aging walks only valid roots; an unmap walks the invalid ones too
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x1
    When the roots are invalidated
    Then test_young finds gfns [0x0, 0x200) old
    When the host swaps out gfns [0x0, 0x10)
    And the invalidated roots are zapped
    Then the log matches the snapshot
