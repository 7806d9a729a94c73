@concurrency
Feature: A zap of everything that yields mmu_lock goes on where it yielded
  kvm_mmu_zap_all() (the mm's release: kvm_mmu_notifier_release -> kvm_flush_shadow_all) zaps the
  TDP MMU's root with mmu_lock held for write, walking only the root level (tdp_mmu_zap_root,
  min_level == root_level) and zapping each present top-level entry with its tables. When another
  thread spins on mmu_lock it yields at the top of an iteration (tdp_mmu_iter_cond_resched), once
  it has made progress, and takes the lock again. Since 3a0f64de479c ("KVM: x86/mmu: Don't advance
  iterator after restart due to yielding", v5.16-rc6) the next tdp_iter_next() restarts at the gfn
  it yielded at; before it, the iterator was restarted and then advanced, and at the root level
  that steps to the side: the entry the walk yielded at was never zapped, and the SPTEs under it
  survived (spec/variants/tdp-iter-advance-after-yield-2021.policy).

  The VM has memory in two top-level entries (each maps 512 GiB), so the walk can yield between
  them: the first zap is its progress, and vCPU 1's fault spins on the lock meanwhile.

  Background:
    Given before the operations memslot 1 maps 1024 pages at gfn 0x8000000
    And before the operations vCPU 0 has faulted gfn 0x10 for a write
    And before the operations vCPU 0 has faulted gfn 0x8000010 for a write

  Scenario: The mm's release yields to a fault and zaps every SPTE it found
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x20 for a read while the mm is released
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Before 3a0f64de479c the release skips the entry it yielded at
    Given a concurrent VM under the TdpIterAdvanceAfterYield2021 model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x20 for a read while the mm is released
    Then in some interleavings the checker reports "SPTE survived kvm_tdp_mmu_zap_all"
    And the exploration matches the snapshot
