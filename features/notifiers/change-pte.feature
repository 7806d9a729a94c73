@notifiers @change-pte
Feature: .change_pte() in its three historic forms
  Seed 000: since mm commit 6bdb913f0a70 every .change_pte() sits inside
  invalidate_range_start/end, whose zap has already removed the SPTE, so the callback finds
  nothing to change: dead code, removed in v6.10. Before 6bdb913f0a70 it came alone and
  updated the SPTE in place, sparing the guest a fault after a KSM merge.

  Scenario Outline: KSM merges a page the guest has mapped (<model>)
    Given a VM under the <model> model with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x42
    When KSM merges the page behind gfn 0x42
    Then <after the merge>
    And the log matches the snapshot

    Examples:
      | model               | after the merge                                              |
      | base                | gfn 0x42 has no SPTE                                         |
      | ChangePteDead       | gfn 0x42 has no SPTE                                         |
      | ChangePteStandalone | the SPTE for gfn 0x42 maps the host page behind it, read-only |
