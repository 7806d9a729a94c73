# expect: FEAT003
Feature: Arguments a custom parameter type does not accept
  Scenario: A misspelt model, an on/off typo, GFNs out of range, an enum member by the wrong name
    Given a VM under the Pached model
    And eager page splitting is of
    When gfn 0x10_0000 is touched at Pte
    And gfn 0x1_0000_0000_0000_0000 is touched at Pte
    And gfn 0x10 is touched at pte

  Scenario Outline: A bad value from an Examples row points at its cell
    Given a VM under the <model> model
    Examples:
      | model    |
      | Patched  |
      | Unknown  |
