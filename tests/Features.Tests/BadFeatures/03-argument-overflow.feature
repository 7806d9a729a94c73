# expect: FEAT003
Feature: Argument that does not convert
  Scenario: A byte too large
    Then byte 256 is set
