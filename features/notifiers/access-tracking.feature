@notifiers
Feature: Aging with and without EPT A/D bits
  clear_flush_young clears A when the SPTEs have A/D bits; without them (the eptad module
  parameter off) it marks the SPTE for access tracking: R and X are saved in bits 54 and 56
  and R, W and X cleared, so the next access faults and the fast page fault restores them
  (spte.c mark_spte_for_access_track, restore_acc_track_spte). Either way the page is not
  marked accessed (seed 001), and x86 flushes no TLB for aging, not even for
  clear_flush_young (CONFIG_KVM_ELIDE_TLB_FLUSH_IF_YOUNG): a vCPU that cached the translation
  goes on using it, and only a vCPU that walks the SPTEs makes the page young again.

  Scenario Outline: Age, then a vCPU without the translation touches the page (A/D bits <ad>)
    Given a VM with 2 vCPUs
    And EPT A/D bits are <ad>
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x1
    When the primary MMU ages gfns [0x0, 0x200) with clear_flush_young
    Then test_young finds gfns [0x0, 0x200) old
    And the SPTE tree matches the snapshot
    When vCPU 1 writes gfn 0x1
    Then test_young finds gfns [0x0, 0x200) young
    And no page was marked accessed
    And the log matches the snapshot

    Examples:
      | ad  |
      | on  |
      | off |

  Scenario: Aging flushes nothing, so a cached translation keeps working and the page stays old
    Given a VM with 1 vCPU
    And EPT A/D bits are off
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x1
    When the primary MMU ages gfns [0x0, 0x200) with clear_flush_young
    And vCPU 0 reads gfn 0x1
    Then test_young finds gfns [0x0, 0x200) old
    And the checker reports nothing
    And the log matches the snapshot

  # With A/D bits off an aged huge SPTE is access-tracked: R, W and X cleared, R and X saved in
  # bits 54 and 56 (mark_spte_for_access_track). Splitting it (make_huge_page_split_spte) copies
  # that into every 4K SPTE, which stays access-tracked until a vCPU touches it; the fast page
  # fault then restores R and X (restore_acc_track_spte) and, for a write, W: never a W or X
  # without R, which EPT takes as a misconfiguration.
  Scenario Outline: An aged huge page split for dirty logging (A/D bits off, NX huge pages <nx>)
    Given a VM with 1 vCPU
    And EPT A/D bits are off
    And the NX huge page mitigation is <nx>
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has read gfn 0x210
    When the primary MMU ages gfns [0x0, 0x400) with clear_young
    And dirty logging is enabled on memslot 0
    And vCPU 0 writes gfn 0x211
    And vCPU 0 reads gfn 0x212
    Then the SPTE tree matches the snapshot
    And the checker reports nothing

    Examples:
      | nx  |
      | off |
      | on  |
