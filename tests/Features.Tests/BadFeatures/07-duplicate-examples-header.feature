# expect: FEAT006
Feature: Duplicate examples header
  Scenario Outline: Two columns with one name
    Given a VM with <n> vCPUs
    Examples:
      | n | n |
      | 1 | 2 |
