@notifiers @change-pte
Feature: .change_pte() in its three historic forms
  Seed 000: since mm commit 6bdb913f0a70 every .change_pte() sits inside
  invalidate_range_start/end, whose zap has already removed the SPTE, so the callback finds
  nothing to change: dead code, removed in v6.10. Before 6bdb913f0a70 it came alone and
  updated the SPTE in place, sparing the guest a fault after a KSM merge. Both MMUs take the
  same path: the TDP MMU zaps in kvm_tdp_mmu_unmap_gfn_range() and changes in
  kvm_tdp_mmu_set_spte_gfn(), the shadow MMU in kvm_zap_rmap() and kvm_set_pte_rmap() (mmu.c),
  all reached through kvm_unmap_gfn_range() and kvm_set_spte_gfn().

  Scenario Outline: KSM merges a page the guest has mapped (<model>, <mmu>)
    Given a VM under the <model> model with 1 vCPU on <mmu>
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x42
    When KSM merges the page behind gfn 0x42
    Then <after the merge>
    And the log matches the snapshot

    Examples:
      | model               | mmu           | after the merge                                               |
      | base                | EPT           | gfn 0x42 has no SPTE                                          |
      | ChangePteDead       | EPT           | gfn 0x42 has no SPTE                                          |
      | ChangePteStandalone | EPT           | the SPTE for gfn 0x42 maps the host page behind it, read-only |
      | base                | NPT           | gfn 0x42 has no SPTE                                          |
      | ChangePteDead       | NPT           | gfn 0x42 has no SPTE                                          |
      | ChangePteStandalone | NPT           | the SPTE for gfn 0x42 maps the host page behind it, read-only |
      | base                | shadow paging | gfn 0x42 has no SPTE                                          |
      | ChangePteDead       | shadow paging | gfn 0x42 has no SPTE                                          |
      | ChangePteStandalone | shadow paging | the SPTE for gfn 0x42 maps the host page behind it, read-only |

  Scenario: KSM merges one of two mapped pages: the SPTE tree
    The tree a reviewer compares under SPECKIT_MODEL=ChangePteStandalone: the base model's
    zap leaves only gfn 0x43's leaf, the standalone .change_pte() keeps gfn 0x42 mapped to the
    merged page.
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x42
    And vCPU 0 has read gfn 0x43
    When KSM merges the page behind gfn 0x42
    Then the SPTE tree matches the snapshot
