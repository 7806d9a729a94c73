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

  # KVM's walker sets A and D in the guest's page table itself
  # (FNAME(update_accessed_dirty_bits): __try_cmpxchg_user on the gPTE's host address), so it
  # marks the table's page dirty (mark_page_dirty(vcpu->kvm, table_gfn)): a dirty-logging VMM
  # must copy the table again, although no guest instruction wrote it. Where the bits are set
  # already, nothing is written and only the data page is dirty, and only if it was written.
  Scenario Outline: A walk that sets <bits set> in the guest's PTE dirties the page table's page (<access>)
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags <flags>
    And dirty logging is enabled on memslot 0
    When vCPU 0 makes a <access> to gva 0x400000
    And the dirty log of memslot 0 is fetched
    Then the fetch reports <fetch>
    And the Pte for gva 0x400000 has <after> set
    And the checker reports nothing

    Examples:
      | flags     | access     | bits set | fetch          | after     |
      | P W U     | user write | A and D  | 0x103, 0x1000  | P W U A D |
      | P W U     | user read  | A        | 0x103          | P W U A   |
      | P W U A   | user write | D        | 0x103, 0x1000  | P W U A D |
      | P W U A D | user write | nothing  | 0x1000         | P W U A D |
      | P W U A   | user read  | nothing  | none           | P W U A   |

  Scenario: The page table the walk dirtied is the guest's Pte table
    Given a VM with 1 vCPU on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P W U
    And dirty logging is enabled on memslot 0
    When vCPU 0 makes a user write to gva 0x400000
    And the dirty log of memslot 0 is fetched
    Then the Pte table for gva 0x400000 is reported dirty by the fetch
    And the log matches the snapshot
