@concurrency
Feature: Write tracking added while a vCPU faults the page
  kvm_write_track_add_gfn() (page_track.c, as KVMGT calls it) takes mmu_lock for write, counts
  the GFN as write-tracked and write-protects its SPTEs (kvm_tdp_mmu_write_protect_gfn: W and
  MMU-writable cleared), flushing before the unlock. A TDP fault holds mmu_lock for read from
  make_spte(), which reads the tracking (mmu_try_to_unsync_pages), to the cmpxchg that installs
  the SPTE, which compares only the SPTE: the write lock is what keeps the tracking from changing
  in between. Once the call returns, no SPTE of the GFN may be writable: a write to it is
  emulated (page_fault_handle_page_track) and page tracking is told of it.

  Background:
    Given a concurrent VM under the base model with 2 vCPUs and 16 pages at gfn 0x0 with 4K host pages

  Scenario: A write fault on the page races the start of its write tracking
    When vCPU 1 faults gfn 0x3 for a write while write tracking is added for it
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: A write through a writable SPTE races its write-protection for tracking
    Given before the operations vCPU 0 has faulted gfn 0x3 for a write
    When vCPU 1 faults gfn 0x3 for a write while write tracking is added for it
    Then in every interleaving the checker reports nothing
    And the exploration matches the snapshot

  Scenario: The Lock line is live: tracking under the read lock lets a fault's make_spte and cmpxchg straddle it
    Given the WriteProtectGfn operation takes mmu_lock for read
    When vCPU 1 faults gfn 0x3 for a write while write tracking is added for it
    Then in some interleavings the checker reports "write-tracked gfn writable"
    And the exploration matches the snapshot
