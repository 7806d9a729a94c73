@report
Feature: A small run for the report
  The report tests drive these scenarios through the feature runtime by hand, so that one
  of them can fail and the report shows the failure.

  Background:
    Given a VM with 1 vCPU

  Scenario: A write is logged
    When vCPU 0 writes gfn 0x10
    Then the dirty log holds gfn 0x10

  Scenario: A count that is wrong
    When vCPU 0 writes gfn 0x10
    Then 2 pages are dirty
    And nothing else is logged

  Scenario Outline: The tree after a write at <gfn>
    When vCPU 0 writes gfn <gfn>
    Then the SPTE tree is drawn

    Examples:
      | gfn   |
      | 0x10  |
      | 0x200 |
