@concurrency
Feature: Lockless aging racing a zap and a fault
  The primary MMU's clear_young reaches kvm_tdp_mmu_age_gfn_range(), which walks under RCU
  without mmu_lock (policy AgeGfnRange: Lock None) and clears A with an atomic AND. A zap under
  the write lock may read the SPTE before the AND and write after it: the Accessed bit it hands
  to handle_changed_spte() is stale, which KVM tolerates (spte_needs_atomic_update leaves A out),
  and nothing else may be lost.

  Background:
    Given a concurrent VM under the base model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    And before the operations vCPU 0 has faulted gfn 0x10 for a read
    And before the operations vCPU 0 has faulted gfn 0x11 for a write

  Scenario: Aging races the zap of the pages it ages
    When the primary MMU ages gfns [0x10, 0x12) while the MMU notifier invalidates gfns [0x10, 0x12)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: Aging races a fault that installs an SPTE in the table it walks
    When vCPU 1 faults gfn 0x12 for a write while the primary MMU ages gfns [0x10, 0x13)
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot
