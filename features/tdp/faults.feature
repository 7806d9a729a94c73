@tdp
Feature: The TDP MMU fault path
  kvm_tdp_mmu_map() after make_spte(): a new writable leaf is W + MMU-writable + Dirty and
  Accessed; huge pages follow the host mapping level unless the slot is dirty-tracked.

  Scenario: A write fault maps a writable, dirty 4K leaf
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    When vCPU 0 writes gfn 0x3
    Then the SPTE for gfn 0x3 maps the host page behind it, writable
    And the SPTE tree matches the snapshot

  Scenario: A fault another vCPU already fixed is spurious
    Given a VM with 2 vCPUs
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    When vCPU 1 takes an EPT violation on gfn 0x9 for a write that vCPU 0 has already fixed
    Then the fault returns RET_PF_SPURIOUS

  @kvm
  Scenario: An access with no memslot behind it is emulated
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    When vCPU 0 reads gfn 0xfee00
    Then gfn 0xfee00 has no SPTE
    And the log matches the snapshot

  Scenario: Huge pages come back when dirty logging stops
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has read gfn 0x205
    And dirty logging is enabled on memslot 0
    And vCPU 0 has written gfn 0x205
    When dirty logging is disabled on memslot 0
    Then the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: A 1G page comes back in one step from the 4K leaves under it
    recover_huge_pages_range() builds the huge SPTE from the first leaf anywhere below the table
    it replaces (tdp_mmu_make_huge_spte walks the subtree with tdp_root_for_each_leaf_pte), so a
    1G page split down to 4K is recovered as one 1G leaf, not as 512 2M leaves.
    Given a VM with 1 vCPU
    And memslot 0 maps 262144 pages at gfn 0x0 with 1G host pages
    And vCPU 0 has read gfn 0x205
    And dirty logging is enabled on memslot 0
    When dirty logging is disabled on memslot 0
    Then the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: With nothing to recover when dirty logging stops, nothing is flushed
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x205
    And dirty logging is enabled on memslot 0
    And vCPU 0 has written gfn 0x205
    When dirty logging is disabled on memslot 0
    Then the log matches the snapshot

  Scenario: Without eager splitting, a huge page splits on its first write
    Given a VM with 1 vCPU
    And eager page splitting is off
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has read gfn 0x205
    When dirty logging is enabled on memslot 0
    And vCPU 0 writes gfn 0x205
    Then the SPTE for gfn 0x205 maps the host page behind it, writable
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: Eager page splitting splits huge pages when dirty logging starts
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has read gfn 0x205
    When dirty logging is enabled on memslot 0
    Then the SPTE tree matches the snapshot
    And the log matches the snapshot

  @kvm
  Scenario: An MMIO SPTE is used until a memslot change makes it stale
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    When vCPU 0 reads gfn 0x400
    And vCPU 0 reads gfn 0x400
    And memslot 1 maps 512 pages at gfn 0x400 with 4K host pages
    And vCPU 0 reads gfn 0x400
    Then the SPTE for gfn 0x400 maps the host page behind it, writable
    And the log matches the snapshot

  Scenario: The recovery of huge pages flushes what it recovered before it yields mmu_lock
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has read gfn 0x5
    And vCPU 0 has read gfn 0x205
    And dirty logging is enabled on memslot 0
    When dirty logging is disabled on memslot 0 with mmu_lock contended at gfn 0x200, while vCPU 0 reads gfn 0x5
    Then the SPTE tree matches the snapshot
    And the log matches the snapshot
    And the checker reports nothing

  Scenario: A recovery that flushed before it yields owes no flush at its end
    recover_huge_pages_range() clears its flush when tdp_mmu_iter_cond_resched() flushes before
    yielding ("flush = false"), and flushes the memslot at its end only if it recovered a huge page
    after that.
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has read gfn 0x5
    And dirty logging is enabled on memslot 0
    When dirty logging is disabled on memslot 0 with mmu_lock contended at gfn 0x200, while vCPU 0 reads gfn 0x5
    Then the log matches the snapshot
    And the checker reports nothing
