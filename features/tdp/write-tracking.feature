@tdp
Feature: Write tracking of a GFN
  kvm_write_track_add_gfn() (what the shadow MMU does to guest page tables, and KVMGT to
  guest graphics tables) write-protects the GFN's SPTEs, disallows huge pages over it, and
  from then on a write to it returns RET_PF_WRITE_PROTECTED and is emulated.

  Background:
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has written gfn 0x205

  Scenario: Tracking write-protects the huge page, and writes beside the GFN map 4K
    When gfn 0x210 is write-tracked
    And vCPU 0 writes gfn 0x205
    Then the SPTE for gfn 0x205 maps the host page behind it, writable
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: A write to a tracked GFN is emulated, and reaches guest memory
    Given gfn 0x210 is write-tracked
    When vCPU 0 stores 0x1234 at gpa 0x210008
    Then userspace reads 0x1234 at gpa 0x210008
    And vCPU 0 loads 0x1234 from gpa 0x210008
    And the log matches the snapshot

  Scenario: An emulated write is still reported to the dirty log, once
    Given gfn 0x210 is write-tracked
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x210
    And the dirty log of memslot 0 is fetched
    Then the fetch reports 0x210
    When the dirty log of memslot 0 is fetched again
    Then the fetch reports none

  Scenario: After tracking is removed the GFN maps writable again
    Given gfn 0x210 is write-tracked
    When write tracking of gfn 0x210 is removed
    And vCPU 0 writes gfn 0x210
    Then the SPTE for gfn 0x210 maps the host page behind it, writable
