@dirty-log @pml
Feature: Page Modification Logging (PML) on EPT
  With kvm_intel's pml parameter (enable_pml, which needs EPT with A/D bits) the CPU logs
  dirty pages itself: when logging starts, kvm_mmu_slot_apply_flags() clears D on the slot's
  leaves, huge ones too (kvm_mmu_slot_leaf_clear_dirty), and write-protects only 2M and up, so 4K SPTEs stay
  writable and a huge page splits on its first write. A write that sets D puts the gpa in the
  vCPU's PML log (512 entries); vmx_flush_pml_buffer() moves the log into the dirty bitmap or
  ring on every exit, and kvm_arch_sync_dirty_log() kicks the vCPUs before a fetch. Re-arming
  a reported page clears D, not W (kvm_mmu_clear_dirty_pt_masked).

  Scenario: Logging with PML leaves 4K leaves writable with D clear and write-protects 2M leaves
    Given a VM with 1 vCPU
    And PML is on
    And eager page splitting is off
    And memslot 0 maps 1024 pages at gfn 0x0 with 4K host pages
    And memslot 1 maps 512 pages at gfn 0x400 with 2M host pages
    And vCPU 0 has written gfn 0x10
    And vCPU 0 has written gfn 0x410
    When dirty logging is enabled on memslot 0
    And dirty logging is enabled on memslot 1
    Then the SPTE for gfn 0x10 reads WMHA-X
    And the SPTE for gfn 0x410 reads -MHA-X
    And the SPTE tree matches the snapshot

  Scenario: A write sets D, waits in the PML log, and GET_DIRTY_LOG reports it once
    Given a VM with 1 vCPU
    And PML is on
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x10
    Then the SPTE for gfn 0x10 reads WMHADX
    And vCPU 0's PML log holds 0x10
    When the dirty log of memslot 0 is fetched
    Then the fetch reports 0x10
    And vCPU 0's PML log holds nothing
    And the SPTE for gfn 0x10 reads WMHA-X
    When the dirty log of memslot 0 is fetched again
    Then the fetch reports none
    And the checker reports nothing
    And the log matches the snapshot

  Scenario: KVM_CLEAR_DIRTY_LOG clears D, not W, with PML
    Given a VM with 1 vCPU
    And PML is on
    And manual dirty-log protection is enabled
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfns 0x10, 0x11
    And the dirty log of memslot 0 is fetched and cleared
    Then the fetch reports 0x10-0x11
    And the SPTE for gfn 0x10 reads WMHA-X
    When vCPU 0 writes gfn 0x11
    And the dirty log of memslot 0 is fetched and cleared again
    Then the fetch reports 0x11
    And the checker reports nothing

  Scenario: The PML log goes to the vCPU's dirty ring at the next exit, here a fault
    Given a VM under the base model with 1 vCPU and a dirty ring of 4096 entries
    And PML is on
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x10
    Then vCPU 0's PML log holds 0x10
    When vCPU 0 writes gfn 0x80
    Then vCPU 0's PML log holds nothing
    When all vCPUs are paused
    And the dirty rings are collected and reset
    Then the fetch reports 0x10, 0x80
    And vCPU 0's PML log holds nothing
    And the SPTE for gfn 0x80 reads WMHA-X
    And the checker reports nothing

  Scenario: A write to a write-protected 2M page splits it and is logged by the fault
    Given a VM with 1 vCPU
    And PML is on
    And eager page splitting is off
    And memslot 0 maps 512 pages at gfn 0x0 with 2M host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    When vCPU 0 writes gfn 0x20
    Then the SPTE for gfn 0x20 reads WMHADX
    And vCPU 0's PML log holds nothing
    When the dirty log of memslot 0 is fetched
    Then the fetch reports 0x20
    And the checker reports nothing

  Scenario: With PML off, logging write-protects 4K leaves as before
    Given a VM with 1 vCPU
    And PML is off
    And memslot 0 maps 512 pages at gfn 0x0 with 4K host pages
    And vCPU 0 has written gfn 0x10
    And dirty logging is enabled on memslot 0
    Then the SPTE for gfn 0x10 reads -MHADX
    When vCPU 0 writes gfn 0x10
    And the dirty log of memslot 0 is fetched
    Then the fetch reports 0x10
    And the SPTE for gfn 0x10 reads -MHADX
