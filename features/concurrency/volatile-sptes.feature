@concurrency
Feature: A zap under the write lock and the CPU setting the Dirty bit
  mmu_lock held for write does not stop the CPU: it sets A and D in leaf SPTEs as it uses them.
  kvm_tdp_mmu_write_spte() therefore exchanges a present leaf whose bits may change meanwhile
  (spte_needs_atomic_update: W without D, MMU-writable without W, A/D disabled), so
  handle_changed_spte() sees the D bit the CPU set after the zap read the SPTE. Before
  ba3a6120a4e7 ("KVM: x86/mmu: Use atomic XCHG to write TDP MMU SPTEs with volatile bits",
  merged with 4f510c8bb1dd, kvm-tdp-mmu-atomicity-fix) the write was WRITE_ONCE and the Dirty
  bit was lost, so the page was not marked dirty (spec/variants/spte-write-once-2022.policy).

  Background:
    Given before the operations vCPU 0 has faulted gfn 0x10 for a write
    And before the operations clear_dirty_gfn_range has cleared D in gfns [0x10, 0x11)

  Scenario: A write through a W !D SPTE races its zap
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x10 for a write while the MMU notifier invalidates gfns [0x10, 0x11)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Before ba3a6120a4e7 the zap loses the Dirty bit the CPU sets
    Given a concurrent VM under the SpteWriteOnce2022 model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    When vCPU 1 faults gfn 0x10 for a write while the MMU notifier invalidates gfns [0x10, 0x11)
    Then in some interleavings the checker reports "lost SPTE update"
    And the exploration matches the snapshot
