# expect: FEAT008
Feature: A step definition that takes fewer arguments than its pattern captures
  Scenario: Count
    Then the count is 3
