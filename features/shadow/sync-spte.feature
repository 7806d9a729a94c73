@shadow @seed004
Feature: A #PF removes the faulting address's translation, so sync_spte must refresh a write-added SPTE
  Seed 004. Lai Jiangshan's 2022 patch to FNAME(sync_page) skips an SPTE whose gPTE only gained
  W, rebuilds it when it only lost W, and drops it on any other change of access. Sean
  Christopherson: skipping the "make writable" case is architecturally wrong. On a #PF the CPU
  removes every TLB entry for the faulting address, and under shadow paging KVM's SPTEs are
  the guest's TLB, so when KVM injects a #PF it invalidates the address
  (kvm_inject_emulated_page_fault -> kvm_mmu_invalidate_addr -> FNAME(sync_spte)). Guests rely
  on this: Linux makes a PTE writable, or finds that another CPU did, and retries the write
  without INVLPG (x86's flush_tlb_fix_spurious_fault() is empty).

  What the patch breaks, as the model runs it: the two vCPUs advance at the kernel's points, and
  every interleaving with at most two preemptions is explored. vCPU 0's user write hits the
  read-only SPTE and exits; FNAME(page_fault) walks the guest's tables without mmu_lock
  (FNAME(walk_addr)), finds the gPTE read-only and injects the #PF, which takes mmu_lock for write
  and syncs the unsync page's SPTE (kvm_mmu_invalidate_addr -> FNAME(sync_spte)). vCPU 1's store
  makes the gPTE writable through the unsync page's writable SPTE, with no lock and no exit: it
  can land before the walk (no #PF: FNAME(fetch) maps the page writable), after the sync (the
  #PF is right, and the SPTE agreed with the gPTE when it was taken), or between the walk and
  the sync. There sync_spte sees the gPTE gain W: the base rebuilds the SPTE, the patch keeps the
  stale read-only one, so a translation outlives the #PF that had to remove it, which the checker
  reports. The guest's retried write would exit to KVM once more, and FNAME(page_fault) would
  refresh the SPTE. The base model is the newest kernel; SyncSpteLai2022 is the patch.

  Scenario Outline: vCPU 1 makes the PTE writable while vCPU 0's write faults on it (<model>)
    Given a concurrent VM under the <model> model with 2 vCPUs on shadow paging and 8192 pages at gfn 0x0 with 4K host pages
    And before the operations the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And before the operations the guest maps gva 0x401000 to gpa 0x1001000 with PTE flags P U A
    And before the operations vCPU 0 has made a user read to gva 0x400000
    And before the operations vCPU 1 has rewritten the Pte for gva 0x401000 unchanged
    And before the operations the shadow page of the Pte table for gva 0x400000 is unsync
    When vCPU 0 makes a user write to gva 0x400000 while vCPU 1 sets W D in the Pte for gva 0x400000
    Then <checker>
    And the exploration matches the snapshot

    Examples:
      | model           | checker                                                                 |
      | base            | in every interleaving the checker reports nothing                       |
      | SyncSpteLai2022 | in some interleavings the checker reports "#PF left a stale translation" |

  Scenario Outline: The failing interleaving replayed: the store lands while vCPU 0 holds mmu_lock to sync (<model>)
    The schedule the exploration printed, one digit per step (0: vCPU 0's write, 1: vCPU 1's
    store): the CPU's access, FNAME(walk_addr), write_lock(mmu_lock), then the store, then
    FNAME(sync_spte), write_unlock, and the #PF delivered. The guest's handler finds the PTE
    writable and retries the write without INVLPG.

    Given a VM under the <model> model with 2 vCPUs on shadow paging
    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And the guest maps gva 0x401000 to gpa 0x1001000 with PTE flags P U A
    And vCPU 0 has made a user read to gva 0x400000
    And vCPU 1 has rewritten the Pte for gva 0x401000 unchanged
    And the shadow page of the Pte table for gva 0x400000 is unsync
    When vCPU 0 makes a user write to gva 0x400000 while vCPU 1 sets W D in the Pte for gva 0x400000, in the schedule 0001000
    Then the guest takes a #PF with error code P|W|U
    And <checker>
    When vCPU 0 makes a user write to gva 0x400000
    Then the access completes after <exits> faults into KVM
    And vCPU 0 has taken 1 #PF
    And the log matches the snapshot

    Examples:
      | model           | checker                                            | exits |
      | base            | the checker reports nothing                        | 0     |
      | SyncSpteLai2022 | the checker reports "#PF left a stale translation" | 1     |

  Scenario Outline: A !WRITABLE fault on an unsync page is refreshed by the fault path in both models (<model>)
    The guest makes the PTE writable and writes without INVLPG. The write hits the stale
    read-only SPTE and exits; FNAME(page_fault) walks the gPTE, now writable, and
    mmu_set_spte() rebuilds the SPTE. sync_spte is not involved.

    Given a VM under the <model> model with 1 vCPU on shadow paging

    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And vCPU 0 has made a user read to gva 0x400000
    And vCPU 0 has set W D in the Pte for gva 0x400000
    When vCPU 0 makes a user write to gva 0x400000
    Then the access completes after 1 fault into KVM
    And the SPTE for gva 0x400000 is P W U A D MMU-W HOST-W
    And vCPU 0 has taken 0 #PFs

    Examples:
      | model           |
      | base            |
      | SyncSpteLai2022 |

  Scenario Outline: INVLPG after making a PTE writable (<model>)
    With INVLPG, sync_spte sees the gPTE gain W. The base rebuilds the SPTE writable; the patch
    keeps it read-only, which costs the next write an exit. Neither is wrong for the guest: the
    INVLPG was not needed, and no #PF was taken.

    Given a VM under the <model> model with 1 vCPU on shadow paging

    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags P U A
    And vCPU 0 has made a user read to gva 0x400000
    And vCPU 0 has set W D in the Pte for gva 0x400000
    When vCPU 0 executes INVLPG for gva 0x400000
    Then the SPTE for gva 0x400000 is <spte after INVLPG>
    When vCPU 0 makes a user write to gva 0x400000
    Then the access completes after <exits> faults into KVM

    Examples:
      | model           | spte after INVLPG           | exits |
      | base            | P W U A D MMU-W HOST-W      | 0     |
      | SyncSpteLai2022 | P U A HOST-W                | 1     |

  Scenario Outline: FNAME(sync_spte) on INVLPG when the gPTE <change> (<model>)
    The decision table of spec/policy/shadow-sync.policy and its variants, one gPTE change at a
    time: the page is unsync, the guest changes the gPTE without a flush, and INVLPG syncs the
    SPTE. An SPTE the sync keeps is unchanged; one it rebuilds has the gPTE's new access.

    Given a VM under the <model> model with 1 vCPU on shadow paging

    And memslot 0 maps 8192 pages at gfn 0x0 with 4K host pages
    And the guest maps gva 0x400000 to gpa 0x1000000 with PTE flags <gPTE>
    And the guest maps gva 0x401000 to gpa 0x1001000 with PTE flags P U A
    And vCPU 0 has made a <access> to gva 0x400000
    And vCPU 0 has rewritten the Pte for gva 0x401000 unchanged
    When vCPU 0 <change> in the Pte for gva 0x400000
    And vCPU 0 executes INVLPG for gva 0x400000
    Then the SPTE for gva 0x400000 is <SPTE after INVLPG>

    Examples: Newest kernel
      | model | gPTE      | access     | change     | SPTE after INVLPG      |
      | base  | P U A     | user read  | sets A     | P U A HOST-W           |
      | base  | P U A     | user read  | sets W D   | P W U A D MMU-W HOST-W |
      | base  | P W U A D | user write | clears W   | P U A HOST-W           |
      | base  | P W U A D | user write | clears D   | P U A HOST-W           |
      | base  | P U A     | user read  | clears U   | P A HOST-W             |
      | base  | P U A     | user read  | clears A   | not present            |
      | base  | P U A     | user read  | clears P   | not present            |

    Examples: Seed 004's patch
      | model           | gPTE      | access     | change     | SPTE after INVLPG |
      | SyncSpteLai2022 | P U A     | user read  | sets A     | P U A HOST-W      |
      | SyncSpteLai2022 | P U A     | user read  | sets W D   | P U A HOST-W      |
      | SyncSpteLai2022 | P W U A D | user write | clears W   | P U A HOST-W      |
      | SyncSpteLai2022 | P W U A D | user write | clears D   | P U A HOST-W      |
      | SyncSpteLai2022 | P U A     | user read  | clears U   | not present       |
      | SyncSpteLai2022 | P U A     | user read  | clears A   | not present       |
      | SyncSpteLai2022 | P U A     | user read  | clears P   | not present       |

    Examples: The v6.2 loop, which rebuilt every SPTE without Accessed
      | model        | gPTE      | access     | change     | SPTE after INVLPG    |
      | SyncPage2022 | P U A     | user read  | sets A     | P U HOST-W           |
      | SyncPage2022 | P U A     | user read  | sets W D   | P W U D MMU-W HOST-W |
      | SyncPage2022 | P W U A D | user write | clears W   | P U HOST-W           |
      | SyncPage2022 | P W U A D | user write | clears D   | P U HOST-W           |
      | SyncPage2022 | P U A     | user read  | clears U   | P HOST-W             |
      | SyncPage2022 | P U A     | user read  | clears A   | not present          |
      | SyncPage2022 | P U A     | user read  | clears P   | not present          |
