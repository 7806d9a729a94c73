# expect: FEAT017
Feature: A feature saved in Latin-1
  Scenario: Café au lait
    Given a VM with 1 vCPU
