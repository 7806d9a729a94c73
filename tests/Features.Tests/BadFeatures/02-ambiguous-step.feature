# expect: FEAT002
Feature: Ambiguous step
  Scenario: Two definitions match
    Then the log is empty
