@dirty-log
Feature: The dirty bitmap lives and dies with KVM_MEM_LOG_DIRTY_PAGES
  kvm_prepare_memory_region() (virt/kvm/kvm_main.c) frees a slot's dirty bitmap when logging is
  turned off and allocates a zeroed one when it is turned on again (or one with exactly npages
  bits set under KVM_DIRTY_LOG_INITIALLY_SET: bitmap_set(0, npages)); a moved slot keeps its
  bitmap ("new->dirty_bitmap = old->dirty_bitmap"), whose bits are offsets in the slot.
  kvm_get_dirty_log_protect() and kvm_clear_dirty_log_protect() answer -ENOENT for a slot with
  no bitmap and -EINVAL for a slot id past KVM_USER_MEM_SLOTS. A page is reported once per
  dirtying event: make_spte() marks the page dirty whenever it installs a writable SPTE in a
  logged slot, a read fault included (__kvm_faultin_pfn maps the host page writable when it
  is), and the checker counts that as the event it is.

  @kvm
  Scenario: Pending bits are lost when logging is turned off, and the new bitmap starts empty
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    And vCPU 0 has written gfn 0x10
    When dirty logging is disabled on memslot 0
    Then KVM_GET_DIRTY_LOG on memslot 0 returns -ENOENT
    And KVM_CLEAR_DIRTY_LOG on memslot 0 from page 0 for 64 pages returns -ENOENT
    When dirty logging is enabled on memslot 0
    And the dirty log of memslot 0 is fetched
    Then the fetch reports none
    When vCPU 0 writes gfn 0x10
    And the dirty log of memslot 0 is fetched again
    Then the fetch reports 0x10
    And the checker reports nothing

  @kvm @host-maps-no-sptes
  Scenario: A read fault in a logged slot maps the page writable and reports it once
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 reads gfn 0x20
    Then the SPTE for gfn 0x20 maps the host page behind it, writable
    When the dirty log of memslot 0 is fetched
    Then the fetch reports 0x20
    When the dirty log of memslot 0 is fetched again
    Then the fetch reports none
    And the checker reports nothing

  @kvm
  Scenario: A slot moved while logging keeps its bitmap, by offset
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    And vCPU 0 has written gfn 0x10
    When memslot 0 is moved to gfn 0x1000
    And the dirty log of memslot 0 is fetched
    Then the fetch reports 0x1010
    And the checker reports nothing

  @kvm
  Scenario: INITIALLY_SET sets exactly npages bits, none past the slot's end
    Given a VM with 1 vCPU
    And manual dirty-log protection is enabled with INITIALLY_SET
    And memslot 0 maps 70 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When the dirty log of memslot 0 is fetched
    Then the fetch reports 0x0-0x45
    And KVM_CLEAR_DIRTY_LOG on memslot 0 from page 0 for 70 pages returns 0
    And the checker reports nothing

  @kvm
  Scenario Outline: KVM_GET_DIRTY_LOG on <which> returns <result>
    Given a VM with 1 vCPU
    And memslot 0 maps 64 pages at gfn 0x0 with 4K host pages
    Then KVM_GET_DIRTY_LOG on memslot <slot> returns <result>

    Examples:
      | which                           | slot  | result  |
      | a slot that logs nothing        | 0     | -ENOENT |
      | a slot that does not exist      | 3     | -ENOENT |
      | a slot id past KVM_USER_MEM_SLOTS | 32765 | -EINVAL |

  @kvm
  Scenario: KVM_CLEAR_DIRTY_LOG on a small unaligned slot clears what is set and nothing past it
    Given a VM with 1 vCPU
    And manual dirty-log protection is enabled
    And memslot 0 maps 5 pages at gfn 0x3 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x3, 0x7
    And the dirty log of memslot 0 is fetched and cleared
    Then the fetch reports 0x3, 0x7
    And KVM_CLEAR_DIRTY_LOG on memslot 0 from page 0 for 5 pages returns 0
    And the checker reports nothing

  # kvm_mmu_slot_apply_flags() write-protects the slot with kvm_tdp_mmu_wrprot_slot(), which
  # may yield (tdp_mmu_iter_cond_resched), and flushes after the walk
  # (kvm_flush_remote_tlbs_memslot). A vCPU that writes meanwhile through a TLB entry the walk
  # already write-protected is not logged, and need not be: the ioctl has not returned, and a
  # VMM copies all of memory once logging is on. The stale entry is W with MMU-writable kept,
  # which leaf_spte_change_needs_tlb_flush() lets stand until that flush.
  Scenario: A write while logging starts and its write-protect walk yields is neither lost nor stale
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And vCPU 0 has written gfn 0x100
    When dirty logging is enabled on memslot 0 with mmu_lock contended at gfn 0x100, while vCPU 0 writes gfn 0x10
    And the dirty log of memslot 0 is fetched
    Then the fetch reports none
    When vCPU 0 writes gfn 0x10
    And the dirty log of memslot 0 is fetched again
    Then the fetch reports 0x10
    And the checker reports nothing
