# expect: FEAT013
Feature: A placeholder no column provides
  Scenario Outline: Typo in a placeholder
    Given a VM with <vcpus> vCPUs
    Examples:
      | vcpu |
      | 1    |
