# expect: FEAT001
Feature: Undefined step
  Scenario: A step nobody wrote
    Given a VM with 1 vCPU
    When the guest touches gfn 0x1234 with "feeling"
