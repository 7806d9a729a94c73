@dirty-log
Feature: A dirty page is reported once
  Seed 001 (Ben Gardon, TDP MMU v2): the paths that clear D or W for dirty logging must not
  mark the page dirty, or a page is reported twice: pause all vCPUs, fetch the log, fetch it
  again, and the second fetch is not empty although nothing was written. The spec declares
  RecordsDirty No on those paths; the ClearDirtyRecordsDirty variant flips it. With EPT A/D
  bits off there is no D to clear, and the same paths clear W ("clear the dirty or writable
  bit"), with the same rule. The rule is common to every MMU: the TDP MMU on EPT or NPT clears
  them in clear_dirty_pt_masked() (tdp_mmu.c), the shadow MMU in rmap_write_protect() through
  kvm_mmu_write_protect_pt_masked() (mmu.c); both run under the ClearDirtyPtMasked policy, and
  the pages are re-protected in kvm_arch_mmu_enable_log_dirty_pt_masked() as GET takes each
  bitmap word (kvm_get_dirty_log_protect). NPT and shadow paging always have A/D bits.

  Scenario Outline: Pause the vCPUs, fetch the log twice (<model>, <mmu>, A/D bits <ad>)
    Given a VM under the <model> model with 1 vCPU on <mmu>
    And EPT A/D bits are <ad>
    And memslot 0 maps 1024 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10, 0x11, 0x200
    And all vCPUs are paused
    And the dirty log of memslot 0 is fetched
    Then the fetch reports <first fetch>
    When the dirty log of memslot 0 is fetched again
    Then the fetch reports <second fetch>
    And the checker reports <checker>

    @kvm
    Examples: the kernel
      | model | mmu           | ad  | first fetch      | second fetch | checker |
      | base  | EPT           | on  | 0x10-0x11, 0x200 | none         | nothing |
      | base  | EPT           | off | 0x10-0x11, 0x200 | none         | nothing |
      | base  | NPT           | on  | 0x10-0x11, 0x200 | none         | nothing |
      | base  | shadow paging | on  | 0x10-0x11, 0x200 | none         | nothing |

    # Under shadow paging the first fault also prefetched gfns 0x12-0x17 (FNAME(pte_prefetch),
    # writable: the direct map's gPTEs are dirty), so the variant's write-protect at logging
    # start (slot_rmap_write_protect, WrprotGfnRange) already reports six pages never written.
    Examples: a clear-dirty path that records dirty
      | model                  | mmu           | ad  | first fetch      | second fetch     | checker                      |
      | ClearDirtyRecordsDirty | EPT           | on  | 0x10-0x11, 0x200 | 0x10-0x11, 0x200 | "dirty page reported twice"  |
      | ClearDirtyRecordsDirty | EPT           | off | 0x10-0x11, 0x200 | 0x10-0x11, 0x200 | "dirty page reported twice"  |
      | ClearDirtyRecordsDirty | NPT           | on  | 0x10-0x11, 0x200 | 0x10-0x11, 0x200 | "dirty page reported twice"  |
      | ClearDirtyRecordsDirty | shadow paging | on  | 0x10-0x17, 0x200 | 0x10-0x11, 0x200 | "dirty page reported twice"  |

  Scenario Outline: The checker names the double report (<mmu>)
    Given a VM under the ClearDirtyRecordsDirty model with 1 vCPU on <mmu>
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10
    And the dirty log of memslot 0 is fetched
    And the dirty log of memslot 0 is fetched again
    Then the checker reports "dirty page reported twice"
    And the log matches the snapshot

    Examples:
      | mmu           |
      | EPT           |
      | NPT           |
      | shadow paging |

  @kvm
  Scenario: A write after the fetch is reported by the next one
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x20
    And the dirty log of memslot 0 is fetched
    And vCPU 0 writes gfn 0x20
    And the dirty log of memslot 0 is fetched again
    Then the fetch reports 0x20
    And the SPTE tree matches the snapshot
