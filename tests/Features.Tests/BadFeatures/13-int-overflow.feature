# expect: FEAT003
Feature: An int that does not fit
  Scenario: Too many vCPUs
    Given a VM with 0x1ffffffff vCPUs
