@shadow
Feature: Two PUDs, one writable and one read-only, share one PMD page
  The guest points two PDPTEs at one page directory, one writable and one not. The rights of the
  levels above a table are part of its shadow page's role (role.access, from gw->pt_access in
  FNAME(fetch)), so KVM shadows the page directory twice, and the page table under it twice: the
  SPTEs under the read-only PUD are made without W, and a write through that alias faults as the
  guest's tables say it must, even after a write through the writable one.

  Scenario: A write through the read-only alias faults after one through the writable alias
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x40000000 to gpa 0x1000000 with PDPTE flags P W U A and PTE flags P W U A D
    And the guest points the PDPTE for gva 0x80000000 at the page directory of gva 0x40000000, with flags P U A
    When vCPU 0 makes a user write to gva 0x40000000
    Then the access completes after 1 fault into KVM
    When vCPU 0 makes a user read to gva 0x80000000
    Then the access reads the value last stored
    When vCPU 0 makes a user write to gva 0x80000000
    Then the guest takes a #PF with error code P|W|U
    And the Pde table for gva 0x40000000 is shadowed by 2 pages
    And the Pte table for gva 0x40000000 is shadowed by 2 pages
    And the SPTE tree matches the snapshot
    And the log matches the snapshot
