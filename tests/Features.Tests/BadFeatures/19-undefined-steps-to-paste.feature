# expect: FEAT001
Feature: Undefined steps whose proposed definitions must compile as pasted
  Scenario: Characters a Cucumber Expression escapes, and a C# string must hold
    Given the table (of gfn 0x10) is empty
    And a path like C:\kvm\mmu or a/b
    And braces {like these} and a lone " quote
    And the VM's "quoted" and 'single' names
    When vCPU -1 writes 99999999999999999999999 and 0xffff_ffff_ffff_ffff
    * Ünïcödé only
    Then the tree is:
      """
      root
      """
    And the rows are:
      | gfn |
      | 0x1 |
