@memslots @uapi @kvm
Feature: KVM_SET_USER_MEMORY_REGION answers as the kernel does
  __kvm_set_memory_region() (virt/kvm/kvm_main.c) refuses with an errno, never by failing
  otherwise: -EEXIST for a range that overlaps another slot, whether the slot is new or moved
  (KVM_MR_CREATE, KVM_MR_MOVE: "Check for overlaps"); -EINVAL for a change the kernel does not
  allow on an existing slot (a new size or userspace_addr, or KVM_MEM_READONLY toggled:
  "(mem->flags ^ old->flags) & KVM_MEM_READONLY"), and for deleting a slot that does not exist.

  Background:
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And memslot 1 maps 256 pages at gfn 0x400 with 4K host pages

  Scenario Outline: A new slot over <where> returns <result>
    Then creating memslot 2 with <pages> pages at gfn <gfn> returns <result>

    Examples:
      | where                          | pages | gfn   | result  |
      | the head of memslot 0          | 16    | 0x0   | -EEXIST |
      | the tail of memslot 0          | 16    | 0x1f8 | -EEXIST |
      | the whole of memslot 1         | 1024  | 0x300 | -EEXIST |
      | the gap between them           | 512   | 0x200 | 0       |
      | the gap and one page too many  | 513   | 0x200 | -EEXIST |

  Scenario Outline: Moving memslot 1 to gfn <gfn> returns <result>
    Then moving memslot 1 to gfn <gfn> returns <result>

    Examples:
      | gfn   | result  |
      | 0x100 | -EEXIST |
      | 0x180 | -EEXIST |
      | 0x200 | 0       |
      | 0x800 | 0       |

  Scenario: KVM_MEM_READONLY cannot change on an existing slot
    Then making memslot 0 read-only returns -EINVAL
    When vCPU 0 stores 7 at gpa 0x1000 with a 4-byte store
    Then vCPU 0 loads 7 from gpa 0x1000 with a 4-byte load

  Scenario: Deleting a slot that does not exist
    Then deleting memslot 5 returns -EINVAL
    When memslot 1 is deleted
    Then deleting memslot 1 returns -EINVAL

  Scenario Outline: KVM_CREATE_VCPU with id <id> returns <result>: <why>
    Then KVM_CREATE_VCPU with id <id> returns <result>

    Examples: kvm_vm_ioctl_create_vcpu
      | id   | result  | why                                  |
      | 0    | -EEXIST | vCPU 0 exists (kvm_get_vcpu_by_id)   |
      | 1    | 0       | a new id                             |
      | 4095 | 0       | the last of KVM_MAX_VCPU_IDS         |
      | 4096 | -EINVAL | KVM_MAX_VCPUS * KVM_VCPU_ID_RATIO    |

  @host-without-memory-attributes
  Scenario Outline: KVM_SET_MEMORY_ATTRIBUTES on a default VM: <why>
    Then KVM_SET_MEMORY_ATTRIBUTES over <size> bytes at gpa <gpa> with attributes <attributes> returns <result>

    Examples: kvm_vm_ioctl_set_mem_attributes, kvm_supported_mem_attributes
      | why                                   | size   | gpa    | attributes | result  |
      | PRIVATE without private memory        | 0x1000 | 0x0    | 0x8        | -EINVAL |
      | shared, which every VM has            | 0x1000 | 0x0    | 0x0        | 0       |
      | a size of zero                        | 0      | 0x0    | 0x0        | -EINVAL |
      | an unaligned address                  | 0x1000 | 0x800  | 0x0        | -EINVAL |
      | an unaligned size                     | 0x800  | 0x0    | 0x0        | -EINVAL |

  Scenario Outline: KVM_CHECK_EXTENSION(<cap>) on a VM returns <value>: <why>
    Then KVM_CHECK_EXTENSION(<cap>) returns <value>

    Examples: kvm_vm_ioctl_check_extension_generic, kvm_vm_ioctl_check_extension
      | cap                               | value   | why                                              |
      | KVM_CAP_USER_MEMORY               | 1       | KVM_SET_USER_MEMORY_REGION exists                |
      | KVM_CAP_NR_MEMSLOTS               | 32764   | KVM_USER_MEM_SLOTS: SHRT_MAX less 3 private slots |
      | KVM_CAP_READONLY_MEM              | 1       | kvm_arch_has_readonly_mem() on a default VM      |
      | KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 | 3       | KVM_DIRTY_LOG_MANUAL_CAPS: ENABLE, INITIALLY_SET |
      | KVM_CAP_DIRTY_LOG_RING            | 1048576 | KVM_DIRTY_RING_MAX_ENTRIES entries of 16 bytes   |
      | KVM_CAP_MAX_VCPU_ID               | 4096    | KVM_MAX_VCPU_IDS                                 |
      | KVM_CAP_MAX_VCPUS                 | 1024    | KVM_MAX_VCPUS                                    |
      | KVM_CAP_BINARY_STATS_FD           | 1       | KVM_GET_STATS_FD exists                          |

  # kvm_update_page_stats() counts each leaf SPTE the MMU installs by its level.
  @host-maps-no-sptes
  Scenario: pages_4k counts the 4K leaves the guest's accesses mapped
    When vCPU 0 writes gfns 0x10, 0x11
    And vCPU 0 reads gfn 0x400
    Then KVM_GET_STATS_FD reports pages_4k 3
    And KVM_GET_STATS_FD reports pages_2m 0
