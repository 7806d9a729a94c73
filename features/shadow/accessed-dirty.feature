@shadow @seed004
Feature: Keeping the SPTE of an unchanged gPTE loses no Accessed or Dirty update
  Seed 004's second point. Lai: rebuilding the SPTEs of unchanged gPTEs with
  make_spte(prefetch=true) removes their A/D bits. Sean: then pass prefetch=false, as
  FNAME(prefetch_invalid_gpte) has already verified that A is set in the gPTE. The newest
  kernel does both: FNAME(sync_spte) keeps the SPTE of a gPTE whose access is unchanged
  (e6722d9211b2; AccessUnchanged Keep), and an SPTE it rebuilds is Accessed (make_spte's
  "!prefetch || synchronizing", v6.13; RebuildAccessed Yes).
  Keeping loses the guest nothing: a gPTE whose A the guest cleared is invalid and its SPTE
  dropped, and one whose D it cleared no longer grants W (FNAME(protect_clean_gpte)), so its SPTE
  is rebuilt read-only. The next access or write exits, and KVM's walker sets A or D again; the
  checker verifies after every step that no SPTE in a synced page lets an access skip that.
  SyncPage2022 is the v6.2 loop, which rebuilt every SPTE with A cleared.

  Scenario Outline: The guest ages and cleans pages, then flushes its TLB (<model>)
    Given a VM under the <model> model with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And the guest maps gva 0x401000 to gpa 0x1001000 with PTE flags P W U A D
    And the guest maps gva 0x402000 to gpa 0x1002000 with PTE flags P W U A D
    And the guest maps gva 0x403000 to gpa 0x1003000 with PTE flags P U A
    And vCPU 0 has made a user read to gva 0x400000
    And vCPU 0 has made a user write to gva 0x401000
    And vCPU 0 has made a user write to gva 0x402000
    And vCPU 0 has made a user read to gva 0x403000
    And vCPU 0 has cleared D in the Pte for gva 0x402000
    And vCPU 0 has cleared A in the Pte for gva 0x403000
    When vCPU 0 flushes its TLB
    Then the SPTE for gva 0x400000 is <read, unchanged>
    And the SPTE for gva 0x401000 is <written, unchanged>
    And the SPTE for gva 0x402000 is <written, D cleared>
    And the SPTE for gva 0x403000 is not present
    And the SPTE tree matches the snapshot
    When vCPU 0 makes a user write to gva 0x402000
    Then the access completes after 1 fault into KVM
    And the Pte for gva 0x402000 has D set
    When vCPU 0 makes a user read to gva 0x403000
    Then the access completes after 1 fault into KVM
    And the Pte for gva 0x403000 has A set
    And the log matches the snapshot

    Examples:
      | model        | read, unchanged | written, unchanged     | written, D cleared |
      | base         | P U A HOST-W    | P W U A D MMU-W HOST-W | P U A HOST-W       |
      | SyncPage2022 | P U HOST-W      | P W U D MMU-W HOST-W   | P U HOST-W         |
