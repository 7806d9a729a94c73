@dirty-log
Feature: A dirty page is reported once
  Seed 001 (Ben Gardon, TDP MMU v2): the paths that clear D or W for dirty logging must not
  mark the page dirty, or a page is reported twice: pause all vCPUs, fetch the log, fetch it
  again, and the second fetch is not empty although nothing was written. The spec declares
  RecordsDirty No on those paths; the ClearDirtyRecordsDirty variant flips it. With EPT A/D
  bits off there is no D to clear, and the same paths clear W ("clear the dirty or writable
  bit"), with the same rule.

  Scenario Outline: Pause the vCPUs, fetch the log twice (<model>, A/D bits <ad>)
    Given a VM under the <model> model with 1 vCPU
    And EPT A/D bits are <ad>
    And memslot 0 maps 1024 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10, 0x11, 0x200
    And all vCPUs are paused
    And the dirty log of memslot 0 is fetched
    Then the fetch reports 0x10-0x11, 0x200
    When the dirty log of memslot 0 is fetched again
    Then the fetch reports <second fetch>
    And the checker reports <checker>

    Examples: the kernel
      | model | ad  | second fetch | checker |
      | base  | on  | none         | nothing |
      | base  | off | none         | nothing |

    Examples: a clear-dirty path that records dirty
      | model                  | ad  | second fetch     | checker                      |
      | ClearDirtyRecordsDirty | on  | 0x10-0x11, 0x200 | "dirty page reported twice"  |
      | ClearDirtyRecordsDirty | off | 0x10-0x11, 0x200 | "dirty page reported twice"  |

  Scenario: The checker names the double report
    Given a VM under the ClearDirtyRecordsDirty model with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10
    And the dirty log of memslot 0 is fetched
    And the dirty log of memslot 0 is fetched again
    Then the checker reports "dirty page reported twice"
    And the log matches the snapshot

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
