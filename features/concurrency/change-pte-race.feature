@concurrency @change-pte
Feature: Seed 000's .change_pte() as a race with a fault
  Before mm commit 6bdb913f0a70 (2012) set_pte_at_notify() called .change_pte() with no
  invalidation around it, and kvm_mmu_notifier_change_pte() bumped mmu_notifier_seq itself
  (828502d30073): a fault that resolved the old page before KSM replaced it must not install
  it afterwards. Inside an invalidation (6bdb913f0a70 .. v6.9) .change_pte() can never find a
  present SPTE, since the zap ran and in_progress makes every fault retry.

  Scenario Outline: A read fault races a KSM merge of its page (<model>)
    Given a concurrent VM under the <model> model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    When vCPU 0 faults gfn 0x42 for a read while KSM merges the page behind it
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

    Examples:
      | model               |
      | base                |
      | ChangePteDead       |
      | ChangePteStandalone |

  Scenario: Without its sequence bump the standalone .change_pte() lets a fault map the replaced page
    Given a concurrent VM under the ChangePteStandaloneNoSeq model with 2 vCPUs and 1024 pages at gfn 0x0 with 4K host pages
    When vCPU 0 faults gfn 0x42 for a read while KSM merges the page behind it
    Then in some interleavings the checker reports "SPTE maps a stale host page"
    And the exploration matches the snapshot
