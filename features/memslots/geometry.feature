@memslots
Feature: Any geometry, and the user pages behind a slot
  A memslot need not start or end on 64 pages or on a page-table boundary, and its huge pages
  stay inside it: kvm_alloc_memslot_metadata() disallows the huge pages at the slot's head and
  tail, and every huge page of a level where the slot's gfn and its userspace_addr are not
  equally aligned ("(slot->base_gfn ^ ugfn) & (KVM_PAGES_PER_HPAGE(level) - 1)"). A memslot is
  a window on the VMM's memory (userspace_addr): deleting it and making it again over the same
  user pages keeps the data, and two slots can alias one range (__gfn_to_hva_memslot). The
  checker holds that every guest load returns what was last stored to that user page.

  @kvm
  Scenario: A slot whose base is not 2M-aligned against its 2M host pages maps 4K only
    Given a VM with 1 vCPU
    And memslot 0 maps 1024 pages at gfn 0x201 with 2M host pages
    When vCPU 0 stores 17 at gpa 0x3f1000 with a 4-byte store
    And vCPU 0 stores 34 at gpa 0x402000 with a 4-byte store
    Then vCPU 0 loads 17 from gpa 0x3f1000 with a 4-byte load
    And vCPU 0 loads 34 from gpa 0x402000 with a 4-byte load
    And the SPTE tree matches the snapshot

  @kvm
  Scenario: A 200-page slot at gfn 0x1f0 straddles a page table: GET and CLEAR take the word that spans it
    Given a VM with 1 vCPU
    And manual dirty-log protection is enabled
    And memslot 0 maps 200 pages at gfn 0x1f0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x1f8, 0x1ff, 0x200, 0x207, 0x2b7
    And the dirty log of memslot 0 is fetched and cleared
    Then the fetch reports 0x1f8, 0x1ff-0x200, 0x207, 0x2b7
    When vCPU 0 writes gfns 0x1ff, 0x200
    And the dirty log of memslot 0 is fetched and cleared again
    Then the fetch reports 0x1ff-0x200
    And the checker reports nothing

  @kvm
  Scenario: A slot deleted and made again over the same user pages keeps the guest's data
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has stored 42 at gpa 0x5008 with a 4-byte store
    When memslot 0 is deleted
    And memslot 0 is made again at gfn 0x1000 over its old user pages
    Then vCPU 0 loads 42 from gpa 0x1005008 with a 4-byte load
    And userspace reads 42 at gpa 0x1005008

  @kvm
  Scenario: Two slots over one range see each other's stores
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And memslot 1 maps 512 pages at gfn 0x1000 over the user pages of memslot 0
    When vCPU 0 stores 5 at gpa 0x3000 with a 4-byte store
    Then vCPU 0 loads 5 from gpa 0x1003000 with a 4-byte load
    When vCPU 0 stores 9 at gpa 0x1003000 with a 4-byte store
    Then vCPU 0 loads 9 from gpa 0x3000 with a 4-byte load
    And the checker reports nothing

  Scenario: Swapped-out data survives a slot move
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has stored 77 at gpa 0x10000
    When the host swaps out gfns [0x10, 0x11)
    And memslot 0 is moved to gfn 0x800
    Then vCPU 0 loads 77 from gpa 0x810000

  # The VMM's own stores go through its mapping (userspace_addr), not through KVM: the guest
  # loads them, and they are never dirty-logged (only KVM's writes call mark_page_dirty).
  @kvm
  Scenario: What userspace stores through userspace_addr the guest loads, and it is not logged
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When userspace writes 0x12345678 at gpa 0x2008
    And the dirty log of memslot 0 is fetched
    Then the fetch reports none
    And vCPU 0 loads 0x12345678 from gpa 0x2008 with a 4-byte load
    And userspace reads 0x12345678 at gpa 0x2008
