@dirty-log @ring @kvm
Feature: The dirty ring as api.rst describes it
  kvm_vm_ioctl_enable_dirty_log_ring() takes the ring size in bytes: a power of two, at least a
  page and room for the reserved entries, at most KVM_DIRTY_RING_MAX_ENTRIES entries (-E2BIG
  past it), once, before any vCPU exists (-EINVAL otherwise). With the ring, the bitmap ioctls
  answer -ENXIO. Userspace reads the mmap'd entries, harvests those flagged DIRTY, then
  KVM_RESET_DIRTY_RINGS re-protects them and returns how many it reset (kvm_dirty_ring_reset,
  kvm_reset_dirty_gfn). A write between harvest and RESET may add no entry: the SPTE is still
  writable, and api.rst has userspace RESET before it reads the pages. An entry names its slot
  by id; one of a slot that is gone is harvested all the same, and not re-protected.

  Scenario Outline: Ring size of <bytes> bytes returns <result>
    Given a VM with 0 vCPUs
    Then KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) with <bytes> bytes returns <result>

    Examples:
      | bytes   | result |
      | 0       | -EINVAL |
      | 2048    | -EINVAL |
      | 12288   | -EINVAL |
      | 4096    | 0       |
      | 1048576 | 0       |
      | 2097152 | -E2BIG  |

  Scenario: The ring is enabled once, before any vCPU
    Given a VM under the base model with 1 vCPU and a dirty ring of 256 entries
    Then KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) with 4096 bytes returns -EINVAL
    And KVM_GET_DIRTY_LOG on memslot 0 returns -ENXIO

  Scenario: Entries in order, harvested, then reset with their count
    Given a VM under the base model with 1 vCPU and a dirty ring of 256 entries
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x30, 0x10, 0x11
    Then the dirty ring of vCPU 0 holds slot 0 offset 0x30 DIRTY, slot 0 offset 0x10 DIRTY, slot 0 offset 0x11 DIRTY
    When the dirty rings are collected
    Then the dirty ring of vCPU 0 holds nothing
    And KVM_RESET_DIRTY_RINGS resets 3 entries
    And KVM_RESET_DIRTY_RINGS resets 0 entries

  @host-emulates-writes
  Scenario: A write between harvest and RESET adds no entry, and is not a lost page
    Given a VM under the base model with 1 vCPU and a dirty ring of 256 entries
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x10
    And the dirty rings are collected
    And vCPU 0 writes gfn 0x10
    Then the dirty ring of vCPU 0 holds nothing
    And KVM_RESET_DIRTY_RINGS resets 1 entries
    When vCPU 0 writes gfn 0x10
    Then the dirty ring of vCPU 0 holds slot 0 offset 0x10 DIRTY
    And the checker reports nothing

  Scenario: Entries of a deleted slot are harvested, and not the new slot's under the same id
    Given a VM under the base model with 1 vCPU and a dirty ring of 256 entries
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x10
    And memslot 0 is deleted
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    And the dirty rings are collected and reset
    Then the checker reports nothing
    When vCPU 0 writes gfn 0x10
    And the dirty rings are collected and reset
    Then the fetch reports 0x10
    And the checker reports nothing

  Scenario: Logging turned off and on keeps the ring's entries, which still report their writes
    Given a VM under the base model with 1 vCPU and a dirty ring of 256 entries
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x10
    And dirty logging is disabled on memslot 0
    And dirty logging is enabled on memslot 0
    And the dirty rings are collected and reset
    Then the fetch reports 0x10
    And the checker reports nothing
