@tdp
Feature: Which TDP MMU walks yield mmu_lock, and what they flush first
  A range operation that may run long drops mmu_lock where another thread spins on it
  (tdp_mmu_iter_cond_resched, tdp_mmu.c), flushing first only what its caller says it owes:
  the flush argument. The slot-wide walks of dirty logging and eager splitting yield with
  nothing to flush (flush = false), and so does the zap of a whole root (tdp_mmu_zap_root),
  whose zaps nobody flushes. The log names the walk that yielded, as the spec's Operation does.

  # kvm_tdp_mmu_zap_all() -> tdp_mmu_zap_root() -> __tdp_mmu_zap_root():
  # "if (tdp_mmu_iter_cond_resched(kvm, &iter, false, shared)) continue;": the walk yields
  # between the two top-level entries without flushing the first one's zap ("A TLB flush is
  # unnecessary, KVM zaps everything if and only the VM is being destroyed or the userspace VMM
  # has exited"). Policy ZapRoot: Yield WithoutFlush.
  Scenario: The mm's release yields between top-level entries without flushing first
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And memslot 1 maps 512 pages at gfn 0x8000000 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And vCPU 0 has written gfn 0x8000010
    When the process's mm is released with mmu_lock contended at gfn 0x8000000
    Then the log has a line with "ZapRoot: mmu_lock dropped at gfn 0x8000000"
    And the log has no line with "before yielding"
    And no SPTE is present
    And the log matches the snapshot

  # With PML, kvm_mmu_slot_apply_flags() clears D on the slot's leaves first
  # (kvm_mmu_slot_leaf_clear_dirty -> clear_dirty_gfn_range), and that walk yields at a present
  # leaf: "if (tdp_mmu_iter_cond_resched(kvm, &iter, false, true)) continue;". The write-protect
  # walk after it (PG_LEVEL_2M and up) never reaches a 4K GFN, so the yield at 0x100 is the
  # clear-dirty walk's or no walk's. Policy ClearDirtyGfnRange: Yield WithoutFlush.
  Scenario: With PML the clear-dirty walk of logging's start yields at a 4K leaf
    Given a VM with 1 vCPU
    And PML is on
    And eager page splitting is off
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And vCPU 0 has written gfn 0x100
    When dirty logging is enabled on memslot 0 with mmu_lock contended at gfn 0x100, while vCPU 0 writes gfn 0x10
    Then the log has a line with "ClearDirtyGfnRange: mmu_lock dropped at gfn 0x100"
    And the log has no line with "before yielding"
    And the checker reports nothing
    And the log matches the snapshot

  # Eager page splitting (kvm_mmu_slot_try_split_huge_pages, on by default) runs before the
  # write-protect walk and yields too: tdp_mmu_split_huge_pages_root "if
  # (tdp_mmu_iter_cond_resched(kvm, &iter, false, shared)) continue;", here at the second 2M
  # page, so the vCPU writes it while it is still huge. Policy SplitHugePages: Yield WithoutFlush.
  Scenario: Eager page splitting yields between huge pages, before the write-protect walk
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has written gfn 0x10
    And vCPU 0 has written gfn 0x210
    When dirty logging is enabled on memslot 0 with mmu_lock contended at gfn 0x200, while vCPU 0 writes gfn 0x210
    Then the log has a line with "SplitHugePages: mmu_lock dropped at gfn 0x200"
    And the log has no line with "WrprotGfnRange: mmu_lock dropped"
    And the checker reports nothing
    And the log matches the snapshot
