# expect: FEAT003
Feature: A regex capture that does not convert
  Scenario: Too many milliseconds
    When the guest runs for 99999999999 ms
