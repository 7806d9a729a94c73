@spte @variants
Feature: A layout variant reaches the running model
  A VM reads every SPTE bit through the masks of its format, and the masks are the layout's
  fields (spec/layouts/spte-masks.layout: shadow_mmu_writable_mask = EptSpte.MmuWritable), so a
  variant that moves a field moves it in every SPTE the model builds. EptMmuWritableBit59 moves
  KVM's MMU-writable software bit (EPT_SPTE_MMU_WRITABLE, spte.h) from bit 58 to bit 59, which
  the hardware ignores either way: the raw SPTEs change and nothing else does. Dirty logging
  clears W and keeps MMU-writable (clear_dirty_pt_masked), and the fast page fault makes the
  SPTE writable again because it is MMU-writable (fast_page_fault, is_mmu_writable_spte).

  Scenario Outline: Write-protected for dirty logging, then made writable by the fast path (<model>)
    Given a VM under the <model> model with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    And vCPU 0 has written gfn 0x10
    When the dirty log of memslot 0 is fetched
    Then the fetch reports 0x10
    And the SPTE for gfn 0x10 reads -MHADX
    And the SPTE for gfn 0x10 is <protected> in raw bits
    When vCPU 0 writes gfn 0x10
    Then the SPTE for gfn 0x10 reads WMHADX
    When the dirty log of memslot 0 is fetched again
    Then the fetch reports 0x10
    And the SPTE for gfn 0x10 is <protected> in raw bits
    And the checker reports nothing

    Examples:
      | model               | protected          |
      | base                | 0x8600000100010b75 |
      | EptMmuWritableBit59 | 0x8a00000100010b75 |

  # The special values come from the model too (the Formats' shadow_nonpresent_value is
  # SHADOW_NONPRESENT_VALUE): before v6.11 a zapped SPTE was 0, and under RemovedSpte the
  # model's zaps write 0 and its checker expects 0.
  Scenario Outline: A zapped SPTE holds the model's SHADOW_NONPRESENT_VALUE (<model>)
    Given a VM under the <model> model with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    When the host swaps out gfns [0x10, 0x11)
    Then the 4K entry for gfn 0x10 holds <zapped>
    And the 4K entry for gfn 0x11 holds <zapped>
    And the checker reports nothing

    Examples:
      | model       | zapped             |
      | base        | 0x8000000000000000 |
      | RemovedSpte | 0x0                |
