# expect: FEAT009
Feature: A table the step definition does not take
  Scenario: Extra table
    Given a VM with 1 vCPU
      | unexpected |
