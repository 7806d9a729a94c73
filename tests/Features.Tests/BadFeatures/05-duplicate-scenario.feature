# expect: FEAT004
Feature: Duplicate scenario names
  Scenario: Same name
    Given a VM with 1 vCPU
  Scenario: Same name
    Given a VM with 2 vCPUs
