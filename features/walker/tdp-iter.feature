@walker
Feature: The TDP iterator walks like tdp_iter.c
  The generated TdpIter is a pre-order walk of [start, end) that steps down into present
  non-leaf entries, then to the side, then up. After mmu_lock is dropped it restarts from
  the root towards the GFN it had reached, and it never yields twice at the same GFN
  (tdp_mmu_iter_cond_resched's forward-progress check).

  Background:
    Given a 4-level TDP root
    And these mappings:
      | gfn     | level | pfn     |
      | 0x0     | 4K    | 0x1000  |
      | 0x1     | 4K    | 0x1001  |
      | 0x1ff   | 4K    | 0x11ff  |
      | 0x200   | 2M    | 0x2000  |
      | 0x40000 | 1G    | 0x40000 |

  Scenario: A walk visits every entry that overlaps the range, in pre-order
    When the iterator walks gfns [0x1, 0x202) down to level 4K
    Then the walk matches the snapshot
    And the leaves processed were 0x1, 0x1ff, 0x200

  Scenario: Upper-level entries that begin below the start are visited too
    When the iterator walks gfns [0x201, 0x202) down to level 4K
    Then the walk visits 3 entries, the first at level 4 gfn 0x0

  Scenario: A yield restarts the walk from the root
    When the iterator walks gfns [0x0, 0x202) down to level 4K, yielding at gfn 0x1
    Then the walk matches the snapshot
    And every present leaf was processed exactly once
    And the leaves processed were 0x0, 0x1, 0x1ff, 0x200

  Scenario: The iterator never yields twice at the same GFN
    When the iterator walks gfns [0x0, 0x80000) down to level 4K, trying to yield at every entry
    Then no two yields happened at the same gfn
    And every present leaf was processed exactly once
