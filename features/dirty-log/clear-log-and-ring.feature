@dirty-log
Feature: No double reporting with KVM_CLEAR_DIRTY_LOG and the dirty ring
  Seed 001's sequence in the other two dirty-logging modes: with manual protection the
  re-protection happens in KVM_CLEAR_DIRTY_LOG, and with the dirty ring in
  KVM_RESET_DIRTY_RINGS; neither may report a page it re-protects.

  Scenario Outline: Fetch and clear twice with manual protection (<model>)
    Given a VM under the <model> model with 1 vCPU
    And manual dirty-log protection is enabled
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10, 0x11, 0x80
    And all vCPUs are paused
    And the dirty log of memslot 0 is fetched and cleared
    Then the fetch reports 0x10-0x11, 0x80
    When the dirty log of memslot 0 is fetched and cleared again
    Then the fetch reports <second fetch>
    And the checker reports <checker>

    @kvm
    Examples: the kernel
      | model                  | second fetch    | checker                     |
      | base                   | none            | nothing                     |

    Examples: a clear-dirty path that records dirty
      | model                  | second fetch    | checker                     |
      | ClearDirtyRecordsDirty | 0x10-0x11, 0x80 | "dirty page reported twice" |

  @kvm
  Scenario: INITIALLY_SET reports every page first, then only what was written
    Given a VM with 1 vCPU
    And manual dirty-log protection is enabled with INITIALLY_SET
    And memslot 0 maps 128 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x5
    And dirty logging is enabled on memslot 0
    When the dirty log of memslot 0 is fetched and cleared
    Then the fetch reports 0x0-0x7f
    When vCPU 0 writes gfn 0x5
    And the dirty log of memslot 0 is fetched and cleared again
    Then the fetch reports 0x5
    And the log matches the snapshot

  @kvm
  Scenario Outline: KVM_CLEAR_DIRTY_LOG range rules: first page <first>, <count> pages (<why>)
    Given a VM with 1 vCPU
    And manual dirty-log protection is enabled
    And memslot 0 maps 200 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    Then KVM_CLEAR_DIRTY_LOG on memslot 0 from page <first> for <count> pages returns <result>

    Examples:
      | first | count | result  | why                                      |
      | 0     | 64    | 0       | aligned, whole words                     |
      | 128   | 72    | 0       | not a multiple of 64, but ends the slot  |
      | 1     | 64    | -EINVAL | first_page & 63                          |
      | 0     | 100   | -EINVAL | not a multiple of 64, not the slot's end |
      | 192   | 64    | -EINVAL | runs past the end of the slot            |
      | 256   | 0     | -EINVAL | first_page beyond the slot               |

  Scenario Outline: Collect and reset the dirty ring twice (<model>)
    Given a VM under the <model> model with 1 vCPU and a dirty ring of 4096 entries
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10, 0x11, 0x80
    And all vCPUs are paused
    And the dirty rings are collected and reset
    Then the fetch reports 0x10-0x11, 0x80
    When the dirty rings are collected and reset again
    Then the fetch reports none
    And the checker reports <checker>

    @kvm
    Examples: the kernel
      | model                  | checker                            |
      | base                   | nothing                            |

    Examples: a clear-dirty path that records dirty
      | model                  | checker                            |
      | ClearDirtyRecordsDirty | "dirty ring without a vCPU"        |

  Scenario: A vCPU whose ring is soft-full exits to userspace until the ring is reset
    # The smallest ring is one page of entries (256); it is soft-full with 64 entries left
    # (KVM_DIRTY_RING_RSVD_ENTRIES), after 192 pushes: kvm_dirty_ring_soft_full().
    Given a VM under the base model with 1 vCPU and a dirty ring of 256 entries
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes every gfn in [0x0, 0xc0)
    Then the dirty ring of vCPU 0 is soft-full
    When vCPU 0 writes gfn 0x100
    Then vCPU 0 exited to userspace with KVM_EXIT_DIRTY_RING_FULL
    When the dirty rings are collected and reset
    Then the fetch reports 0x0-0xbf
    When vCPU 0 writes gfn 0x100
    Then the dirty ring of vCPU 0 holds slot 0 offset 0x100 DIRTY
    And the checker reports nothing
