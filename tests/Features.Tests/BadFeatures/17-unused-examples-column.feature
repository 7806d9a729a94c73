# expect: FEAT016
Feature: An Examples column nothing reads
  Scenario Outline: The second column is never used: a step was meant to read it
    Given a VM with <vcpus> vCPUs
    Then nothing is flushed
    Examples:
      | vcpus | count |
      | 1     | 2     |
