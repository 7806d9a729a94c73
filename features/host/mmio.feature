@host @mmio @kvm
Feature: Accesses no memslot backs, and stores to a read-only slot, exit with KVM_EXIT_MMIO
  x86_emulate_instruction() emulates what the MMU cannot map: a load or store to a gpa no memslot
  holds (kvm_handle_noslot_fault), and a store to a KVM_MEM_READONLY slot (the RO fault of
  __kvm_faultin_pfn), go to userspace as KVM_EXIT_MMIO with the gpa, the length, the direction
  and, for a store, the data (emulator_read_write_onepage -> vcpu_mmio_write fails ->
  KVM_EXIT_MMIO). Userspace answers a load by filling run->mmio.data before the next KVM_RUN
  (complete_emulated_mmio). A load from a read-only slot is an ordinary load.

  Scenario: A store to an unbacked gpa carries its data; a load is answered by userspace
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    When vCPU 0 runs a 4-byte store of 0x1234 to gpa 0xfee00008
    Then vCPU 0 exited to userspace with KVM_EXIT_MMIO
    And vCPU 0's KVM_EXIT_MMIO is a write of 4 bytes at gpa 0xfee00008
    And vCPU 0's KVM_EXIT_MMIO carries the data 0x1234
    When vCPU 0 loads 4 bytes from gpa 0xfee00010
    Then the load did not complete
    And vCPU 0's KVM_EXIT_MMIO is a read of 4 bytes at gpa 0xfee00010
    When userspace answers vCPU 0's MMIO read with 0xabcd
    Then the load returned 0xabcd

  Scenario Outline: A read-only slot: loads read memory, stores exit with KVM_EXIT_MMIO and change nothing (<mmu>)
    Given a VM with 1 vCPU on <mmu>
    And read-only memslot 0 maps 16 pages at gfn 0x100 with 4K host pages
    When vCPU 0 loads 4 bytes from gpa 0x100000
    Then the load returned 0x0
    When vCPU 0 runs a 4-byte store of 5 to gpa 0x100000
    Then vCPU 0 exited to userspace with KVM_EXIT_MMIO
    And vCPU 0's KVM_EXIT_MMIO is a write of 4 bytes at gpa 0x100000
    And vCPU 0's KVM_EXIT_MMIO carries the data 0x5
    And userspace reads 0 at gpa 0x100000
    And the SPTE for gfn 0x100 maps the host page behind it, read-only

    Examples:
      | mmu           |
      | EPT           |
      | NPT           |
      | shadow paging |
