@notifiers
Feature: Aging, invalidation races and flush before yield
  The TDP MMU ages without marking pages accessed and without flushing (C.3); a fault that
  sampled the invalidation sequence before an invalidation retries (C.2); and a zap that drops
  mmu_lock flushes first, or a vCPU keeps using a translation whose SPTE is gone (B.4).

  Scenario: clear_young and clear_flush_young never mark the page accessed
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has read gfn 0x1
    When the primary MMU ages gfns [0x0, 0x200) with clear_young
    And the primary MMU ages gfns [0x0, 0x200) with clear_flush_young
    Then no page was marked accessed
    And the log matches the snapshot

  Scenario: A fault raced by an invalidation retries and maps the new page
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    When the host migrates the page behind gfn 0x7 while vCPU 0 faults on it for a read
    Then the SPTE for gfn 0x7 maps the host page behind it, writable
    And the log matches the snapshot

  Scenario Outline: A zap that yields must flush first (<model>)
    Given a VM under the <model> model with 2 vCPUs
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 1 has read gfn 0x1
    And vCPU 1 has read gfn 0x100
    When the host swaps out gfns [0x0, 0x200) with mmu_lock contended at gfn 0x100, while vCPU 1 reads gfn 0x1
    Then <outcome>
    And the log matches the snapshot

    Examples:
      | model                | outcome                                                    |
      | base                 | the SPTE for gfn 0x1 maps the host page behind it, writable |
      | ZapYieldWithoutFlush | the checker reports "stale translation"                     |

  # kvm_tdp_mmu_unmap_gfn_range() walks every root (valid and invalid, newest first:
  # list_add_rcu) and passes its pending flush from one tdp_mmu_zap_leafs() to the next, so a
  # yield in the second root flushes first what the first root zapped.
  Scenario: A zap over two roots flushes what the first zapped before the second yields
    Given a VM with 2 vCPUs
    And memslot 0 maps 1024 pages at gfn 0x0 with 4K host pages
    And vCPU 1 has read gfn 0x100
    When the roots are invalidated
    And vCPU 1 reads gfn 0x201
    And the host swaps out gfns [0x0, 0x400) with mmu_lock contended at gfn 0x100, while vCPU 1 reads gfn 0x201
    Then the SPTE for gfn 0x201 maps the host page behind it, writable
    And the checker reports nothing
    And the log matches the snapshot
