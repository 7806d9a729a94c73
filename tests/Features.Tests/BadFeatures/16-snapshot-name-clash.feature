# expect: FEAT015
Feature: Scenarios whose snapshot files would be one
  Scenario: The slot's table
    Given a VM with 1 vCPU

  Scenario: The slot_s table
    Given a VM with 1 vCPU

  Scenario: Case only
    Given a VM with 1 vCPU

  Scenario: CASE ONLY
    Given a VM with 1 vCPU

  Scenario Outline: Two rows with the same values
    Given a VM with <n> vCPUs
    Examples:
      | n |
      | 1 |
      | 2 |
      | 1 |
