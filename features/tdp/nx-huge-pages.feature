@tdp
Feature: Fetches under the NX huge page mitigation
  With nx_huge_pages on (the iTLB multihit mitigation), make_spte() leaves huge SPTEs
  non-executable, so a fetch from a huge page faults and is mapped at 4K; the table that
  replaced the huge page is tracked as a possible NX huge page, and the recovery thread
  zaps such tables so the huge page can come back (mmu.c kvm_mmu_hugepage_adjust,
  disallowed_hugepage_adjust, kvm_recover_nx_huge_pages).

  Background:
    Given a VM with 1 vCPU
    And the NX huge page mitigation is on
    And memslot 0 maps 1024 pages at gfn 0x0 with 2M host pages

  Scenario: A fetch from a huge page splits it and maps the fetched page executable
    Given vCPU 0 has read gfn 0x205
    When vCPU 0 fetches from gfn 0x205
    Then 1 possible NX huge page is tracked
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: A read beside a fetched page maps 4K rather than replace the table with a huge page
    Given vCPU 0 has fetched from gfn 0x205
    When vCPU 0 reads gfn 0x206
    Then the SPTE tree matches the snapshot

  Scenario: NX recovery zaps the table, and the next read maps the huge page again
    Given vCPU 0 has fetched from gfn 0x205
    When the NX recovery thread zaps 1 possible NX huge page
    And vCPU 0 reads gfn 0x206
    Then 0 possible NX huge pages are tracked
    And the SPTE tree matches the snapshot
    And the log matches the snapshot

  Scenario: NX recovery leaves a dirty-logged slot's tables alone
    Given vCPU 0 has fetched from gfn 0x205
    And dirty logging is enabled on memslot 0
    When the NX recovery thread zaps 1 possible NX huge page
    Then 0 possible NX huge pages are tracked
    And the log matches the snapshot

  Scenario: Without the mitigation a fetch uses the huge page as it is
    Given the NX huge page mitigation is off
    And vCPU 0 has read gfn 0x205
    When vCPU 0 fetches from gfn 0x205
    Then 0 possible NX huge pages are tracked
    And the SPTE tree matches the snapshot
