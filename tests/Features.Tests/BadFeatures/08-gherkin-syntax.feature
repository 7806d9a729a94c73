# expect: FEAT007
Feature: Broken Gherkin
  Scenario: A doc string that never closes
    Given a VM with 1 vCPU
      """
      never closed
