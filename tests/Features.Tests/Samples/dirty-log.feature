@dirty-log
Feature: Sample dirty logging
  A sample used by the generator's own tests: every kind of step argument.

  Background:
    Given a VM with 1 vCPU

  Scenario: A write is logged once
    Given memslot slot0 at gfn 0x100
    When vCPU 0 writes "a \"quoted\" value" to gfn 0x100
    And the guest runs for 10 ms
    Then the dirty log is:
      | slot  | dirty     |
      | slot0 | 0x100     |
    And nothing is flushed

  @zap
  Scenario Outline: Zapping at <level>
    When the range is zapped at level <level>
    Then the SPTE tree is:
      """text
      root at <level>
      """

    Examples: small
      | level |
      | pte   |
      | Pde   |

    @huge
    Examples: huge
      | level |
      | pdpte |

  Rule: Bytes
    Background:
      Given a VM with 2 vCPUs

    Scenario: A byte
      Then byte 255 is set
