@host
Feature: A host page KVM cannot get fails KVM_RUN with -EFAULT
  When hva_to_pfn() finds no VMA, or only a read-only one for a write, __kvm_faultin_pfn gets
  KVM_PFN_ERR_FAULT, kvm_handle_error_pfn() fills KVM_EXIT_MEMORY_FAULT and KVM_RUN returns
  -EFAULT (tools/testing/selftests/kvm/mmu_stress_test.c asserts it after mprotect(PROT_READ)).
  A store to a KSM-merged page breaks the sharing first (a copy-on-write fault); once the
  page is unmapped there is nothing to copy.

  @kvm @host-faults-as-mmio
  Scenario: A store to a page the host made read-only
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has stored 3 at gpa 0x10000 with a 4-byte store
    When the host makes the page behind gfn 0x10 read-only
    And vCPU 0 loads 4 bytes from gpa 0x10000
    Then the load returned 0x3
    When vCPU 0 writes gfn 0x10
    Then vCPU 0 exited to userspace with -EFAULT
    And the SPTE for gfn 0x10 maps the host page behind it, read-only

  # On x86 only PROT_NONE takes reads away: get_user_pages() refuses the VMA (check_vma_flags),
  # so a load fails as a store to a read-only page does, and once the rights are back
  # the data is still there. Both changes of rights are bracketed
  # by an MMU notifier invalidation (change_protection, MMU_NOTIFY_PROTECTION_VMA), and giving
  # write back makes the exclusive anonymous page writable at once (can_change_pte_writable).
  @kvm @host-faults-as-mmio
  Scenario: A load from a PROT_NONE page fails, and succeeds once the page is read-write again
    Given a VM with 2 vCPUs
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has stored 3 at gpa 0x10000 with a 4-byte store
    When the host mprotects the page behind gfn 0x10 PROT_NONE
    And vCPU 0 loads 4 bytes from gpa 0x10000
    Then vCPU 0 exited to userspace with -EFAULT
    And gfn 0x10 has no SPTE
    When the host mprotects the page behind gfn 0x10 PROT_READ|PROT_WRITE
    And vCPU 1 stores 5 at gpa 0x10004 with a 4-byte store
    And vCPU 1 loads 4 bytes from gpa 0x10000
    Then the load returned 0x3

  Scenario: A store after a KSM merge and an munmap
    Given a VM with 1 vCPU
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has stored 3 at gpa 0x10000
    When KSM merges the page behind gfn 0x10
    And the host munmaps gfns [0x10, 0x11)
    And vCPU 0 writes gfn 0x10
    Then vCPU 0 exited to userspace with -EFAULT
    And gfn 0x10 has no SPTE
