# expect: FEAT005
Feature: Outline without examples
  Scenario Outline: Nothing to fill in
    Given a VM with <n> vCPUs
