# expect: FEAT009
Feature: A step definition that wants a table
  Scenario: No table
    Then the dirty log is:
