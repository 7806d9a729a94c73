@guest
Feature: The guest walker checks permissions as the CPU does
  Under shadow paging KVM walks the guest's page tables in software
  (paging_tmpl.h FNAME(walk_addr_generic)) and must fault exactly where the CPU would.
  R/W and U/S are ANDed over the levels and XD is ORed; CR0.WP decides whether
  supervisor writes honour R/W; XD needs EFER.NX (without it bit 63 is reserved);
  SMEP stops supervisor fetches from user pages and SMAP supervisor data accesses,
  unless EFLAGS.AC allows an explicit one; protection keys govern data accesses to user
  pages. A walk that succeeds sets Accessed on every level and Dirty on the leaf of a
  write; a walk that faults sets nothing. The #PF error code says P, W, U, RSVD, I/D, PK.

  Background:
    Given a guest with 4-level paging
    And gva 0x7000 maps to gpa 0x9000 through:
      | level | flags |
      | Pml4e | P W U |
      | Pdpte | P W U |
      | Pde   | P W U |
      | Pte   | P U   |

  Rule: CR0.WP and supervisor writes
    CR0.WP decides whether a supervisor write honours R/W; a user write always does.

    Scenario: CR0.WP=0 lets a supervisor write a read-only page
      Given the guest CPU has CR0.WP=0
      When the guest makes a supervisor write to gva 0x7123
      Then the access succeeds at gpa 0x9123
      And the walk sets A on every level
      And the walk sets D on the leaf
      And the guest walk matches the snapshot

    Scenario: CR0.WP=1 faults the same write, setting no A or D
      Given the guest CPU has CR0.WP=1
      When the guest makes a supervisor write to gva 0x7123
      Then the access faults with error code P|W
      And the walk sets A on no level
      And the walk sets no D
      And the guest walk matches the snapshot

    Scenario: A user write to a read-only page faults whatever CR0.WP says
      Given the guest CPU has CR0.WP=0
      When the guest makes a user write to gva 0x7000
      Then the access faults with error code P|W|U

  Rule: R/W and U/S over the levels
    R/W and U/S are ANDed over every level walked: one read-only or supervisor-only entry
    on the way is enough.

    Scenario: A read-only PDE makes a writable PTE read-only
      Given gva 0x20_0000 maps to gpa 0x9000 through:
        | level | flags   |
        | Pml4e | P W U   |
        | Pdpte | P W U   |
        | Pde   | P U     |
        | Pte   | P W U D |
      And the guest CPU has CR0.WP=1
      When the guest makes a user write to gva 0x20_0000
      Then the access faults with error code P|W|U

    Scenario: A supervisor-only PML4E hides the whole subtree from user mode
      Given gva 0x80_0000_0000 maps to gpa 0x9000 through:
        | level | flags |
        | Pml4e | P W   |
        | Pdpte | P W U |
        | Pde   | P W U |
        | Pte   | P W U |
      When the guest makes a user read to gva 0x80_0000_0000
      Then the access faults with error code P|U
      When the guest makes a supervisor read to gva 0x80_0000_0000
      Then the access succeeds at gpa 0x9000

    Scenario: A not-present PDPTE is a fault without P
      Given gva 0x4000_0000 maps to gpa 0x9000 through:
        | level | flags |
        | Pml4e | P W U |
        | Pdpte | W U   |
        | Pde   | P W U |
        | Pte   | P W U |
      When the guest makes a user write to gva 0x4000_0000
      Then the access faults with error code W|U
      And the walk sets A on no level

  Rule: SMEP
    SMEP stops supervisor fetches from user pages, whatever CR0.WP says; it changes
    nothing for user fetches or for data accesses.

    Scenario Outline: A supervisor fetch from a user page under CR4.SMEP=<smep>
      Given the guest CPU has CR0.WP=0, CR4.SMEP=<smep>, EFER.NX=1
      When the guest makes a <access> to gva 0x7000
      Then the access <outcome>

      Examples:
        | smep | access           | outcome                        |
        | 0    | supervisor fetch | succeeds at gpa 0x9000         |
        | 1    | supervisor fetch | faults with error code P\|I/D  |
        | 1    | user fetch       | succeeds at gpa 0x9000         |
        | 1    | supervisor write | succeeds at gpa 0x9000         |

  Rule: SMAP
    SMAP stops supervisor data accesses to user pages, unless EFLAGS.AC allows an explicit
    one; an implicit access (descriptor tables, the TSS) cannot be allowed.

    Scenario Outline: <access> of a user page under CR4.SMAP=1, EFLAGS.AC=<ac>
      Given the guest CPU has CR0.WP=0, CR4.SMAP=1, EFLAGS.AC=<ac>
      When the guest makes a <access> to gva 0x7000
      Then the access <outcome>

      Examples: explicit accesses
        | access           | ac | outcome                      |
        | supervisor read  | 0  | faults with error code P     |
        | supervisor write | 0  | faults with error code P\|W  |
        | supervisor read  | 1  | succeeds at gpa 0x9000       |
        | supervisor write | 1  | succeeds at gpa 0x9000       |
        | supervisor fetch | 0  | succeeds at gpa 0x9000       |
        | user read        | 0  | succeeds at gpa 0x9000       |

      Examples: implicit accesses (descriptor tables), which EFLAGS.AC cannot exempt
        | access                   | ac | outcome                      |
        | implicit supervisor read | 1  | faults with error code P     |
        | implicit supervisor read | 0  | faults with error code P     |

  Rule: XD and EFER.NX
    XD needs EFER.NX; without it bit 63 is a reserved bit. I/D is reported only when
    fetches can fault at all, with EFER.NX or CR4.SMEP.

    Scenario Outline: A fetch from an NX page under EFER.NX=<nx>
      Given gva 0x60_0000 maps to gpa 0x9000 through:
        | level | flags  |
        | Pml4e | P W U  |
        | Pdpte | P W U  |
        | Pde   | P W U  |
        | Pte   | P W U NX |
      And the guest CPU has EFER.NX=<nx>
      When the guest makes a <access> to gva 0x60_0000
      Then the access <outcome>

      Examples:
        | nx | access     | outcome                                |
        | 1  | user fetch | faults with error code P\|U\|I/D       |
        | 1  | user read  | succeeds at gpa 0x9000                 |
        | 0  | user read  | faults with error code P\|U\|RSVD      |
        | 0  | user fetch | faults with error code P\|U\|RSVD      |

    Scenario: Without EFER.NX or SMEP a fetch fault does not report I/D
      Given gva 0x80_0000 maps to gpa 0x9000 through:
        | level | flags |
        | Pml4e | P W U |
        | Pdpte | P W U |
        | Pde   | P W U |
        | Pte   | W U   |
      When the guest makes a user fetch to gva 0x80_0000
      Then the access faults with error code U

  Rule: Reserved bits
    A reserved bit faults with RSVD (and P) before any permission check.

    Scenario: PS in a PML4E is reserved
      Given gva 0x100_0000_0000 maps to gpa 0x9000 through:
        | level | flags    |
        | Pml4e | P W U PS |
        | Pdpte | P W U    |
        | Pde   | P W U    |
        | Pte   | P W U    |
      When the guest makes a supervisor read to gva 0x100_0000_0000
      Then the access faults with error code P|RSVD
      And the guest walk matches the snapshot

    Scenario: An address bit at MAXPHYADDR is reserved
      Given the guest CPU has MAXPHYADDR=46
      And gva 0xa0_0000 maps to gpa 0x9000 through:
        | level | flags         |
        | Pml4e | P W U         |
        | Pdpte | P W U         |
        | Pde   | P W U         |
        | Pte   | P W U bit46   |
      When the guest makes a user write to gva 0xa0_0000
      Then the access faults with error code P|W|U|RSVD

    Scenario: Bits 20:13 of a 2M leaf are reserved
      Given gva 0x4020_0000 maps to gpa 0x20_0000 through:
        | level | flags       |
        | Pml4e | P W U       |
        | Pdpte | P W U       |
        | Pde   | P W U bit13 |
      When the guest makes a supervisor read to gva 0x4020_0000
      Then the access faults with error code P|RSVD

  Rule: Protection keys
    With CR4.PKE, PKRU governs data accesses to user pages: AD stops reads and writes,
    WD stops writes that R/W would (user writes, and supervisor writes with CR0.WP=1).

    Scenario Outline: Key 1 with PKRU=<pkru> under CR0.WP=<wp>
      Given gva 0xc0_0000 maps to gpa 0x9000 through:
        | level | flags       |
        | Pml4e | P W U       |
        | Pdpte | P W U       |
        | Pde   | P W U       |
        | Pte   | P W U PK=1  |
      And the guest CPU has CR4.PKE=1, CR0.WP=<wp>, PKRU=<pkru>
      When the guest makes a <access> to gva 0xc0_0000
      Then the access <outcome>

      Examples: access disable (AD) stops reads and writes, not fetches
        | pkru | wp | access           | outcome                           |
        | 0x4  | 1  | user read        | faults with error code P\|U\|PK   |
        | 0x4  | 1  | supervisor write | faults with error code P\|W\|PK   |
        | 0x4  | 1  | user fetch       | succeeds at gpa 0x9000            |

      Examples: write disable (WD) stops supervisor writes only with CR0.WP=1
        | pkru | wp | access           | outcome                           |
        | 0x8  | 1  | user write       | faults with error code P\|W\|U\|PK |
        | 0x8  | 1  | supervisor write | faults with error code P\|W\|PK   |
        | 0x8  | 0  | supervisor write | succeeds at gpa 0x9000            |
        | 0x8  | 1  | user read        | succeeds at gpa 0x9000            |
        | 0x3  | 1  | user write       | succeeds at gpa 0x9000            |

  Rule: Root levels and leaf sizes
    4- and 5-level roots, and 4K, 2M and 1G leaves: the address bits below the page
    carry over into the guest-physical address.

    Scenario: A 5-level walk to a 4K page
      Given a guest with 5-level paging
      And gva 0x1ff_0000_0040_1000 maps to gpa 0x7654_3000 through:
        | level | flags |
        | Pml5e | P W U |
        | Pml4e | P W U |
        | Pdpte | P W U |
        | Pde   | P W U |
        | Pte   | P W U |
      When the guest makes a user write to gva 0x1ff_0000_0040_1abc
      Then the access succeeds at gpa 0x7654_3abc
      And the walk sets A on every level
      And the walk sets D on the leaf
      And the guest walk matches the snapshot

    Scenario: A 1G leaf keeps 30 address bits
      Given gva 0x80_4000_0000 maps to gpa 0x1_c000_0000 through:
        | level | flags   |
        | Pml4e | P W U A |
        | Pdpte | P W U   |
      When the guest makes a user read to gva 0x80_7654_3210
      Then the access succeeds at gpa 0x1_f654_3210
      And the walk sets A on Pdpte
      And the walk sets no D
      And the guest walk matches the snapshot

    Scenario: A warm walk sets nothing
      Given the guest CPU has CR0.WP=0
      And the guest has made a supervisor write to gva 0x7000
      When the guest makes a supervisor write to gva 0x7000
      Then the access succeeds at gpa 0x9000
      And the walk sets A on no level
      And the walk sets no D

  Rule: The permission oracle
    The oracle enumerates combinations of bits as kvm-unit-tests' access test does, and
    answers each with the real walker: fault or not, the error code, the A/D bits set.

    Scenario: A 4K page under every WP, SMEP, SMAP, AC and NX
      Given gva 0x7000 maps to gpa 0x9000 through:
        | level | flags |
        | Pml4e | P W U |
        | Pdpte | P W U |
        | Pde   | P W U |
        | Pte   | P     |
      When the permission oracle checks every access for every combination of:
        | bit       |
        | Pte.W     |
        | Pte.U     |
        | Pte.NX    |
        | CR0.WP    |
        | CR4.SMEP  |
        | CR4.SMAP  |
        | EFLAGS.AC |
        | EFER.NX   |
      Then the permission table matches the snapshot
