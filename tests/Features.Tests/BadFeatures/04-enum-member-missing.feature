# expect: FEAT003
Feature: Enum argument that names no member
  Scenario: Zap at a level that does not exist
    When the range is zapped at level pml9e
