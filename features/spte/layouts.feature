@spte
Feature: SPTE layouts are the kernel's
  The layouts in spec/ are checked against the masks that arch/x86/kvm/mmu/spte.h,
  mmu.h and asm/vmx.h define. A variant model carries an older kernel's values
  beside the newest ones, so a scenario can compare them.

  Scenario Outline: A field's mask is the kernel's macro
    Then in the base model <layout>.<field> has the mask <mask>

    Examples: KVM's software bits
      | layout     | field        | mask               |
      | EptSpte    | MmuPresent   | 0x800              |
      | EptSpte    | HostWritable | 0x0200000000000000 |
      | EptSpte    | MmuWritable  | 0x0400000000000000 |
      | EptSpte    | AdType       | 0x0030000000000000 |
      | LegacySpte | HostWritable | 0x200              |
      | LegacySpte | MmuWritable  | 0x400              |

    Examples: MMIO generation
      | layout   | field   | mask               |
      | MmioSpte | GenLow  | 0x7f8              |
      | MmioSpte | GenHigh | 0x7ff0000000000000 |

  Scenario: FROZEN_SPTE changed value in v6.13 but was never shadow-present
    Then the models define FROZEN_SPTE as:
      | model       | value              |
      | base        | 0x80000000000005a0 |
      | RemovedSpte | 0x5a0              |
    And in every model FROZEN_SPTE is not shadow-present

  Scenario: A writable 4K EPT leaf as make_spte() builds it
    Given an EptSpte with MmuPresent, Readable, Writable, Executable, Accessed, Dirty, HostWritable, MmuWritable
    And its Pfn is 0x1234
    And its MemType is Wb
    Then the SPTE is 0x0600000001234b37
    And the SPTE reads as the snapshot
