@tdx @unmap
Feature: Which roots kvm_tdp_mmu_unmap_gfn_range() zaps: three designs
  A TDX VM has mirror roots (its private memory, reflected into the S-EPT) beside its direct
  roots (its shared memory), and each caller of kvm_unmap_gfn_range() means one alias or
  both. Seed 003 is Rick Edgecombe's review of the v19 design, where the unmap itself works
  out zap_private from only_private/only_shared and the new attributes; he proposes that
  callers say what to exclude instead. The kernel merged a third design (v6.14): callers set
  attr_filter, and kvm_gfn_range_filter_to_root_types() turns it into root types.

  Each design is a model: base is the merged kernel, TdxZapPrivateV19 and TdxExcludeFlags are
  the spec variants for the two pre-merge designs (spec/variants/tdx-*.policy). The VM without
  a shared mask is a KVM_X86_SW_PROTECTED_VM: private memory, but no mirror roots. Where a
  design's callers are not in the sources, the model says "[inferred: ...]" in the snapshot.

  Scenario Outline: <caller> on a <vm> VM, new attribute <attribute>
    When the <caller> unmaps a range of a <vm> VM, new attribute <attribute>
    Then under the base model the unmap zaps <base>
    And under the TdxZapPrivateV19 model the unmap zaps <TdxZapPrivateV19>
    And under the TdxExcludeFlags model the unmap zaps <TdxExcludeFlags>
    And why each model zaps what it zaps matches the snapshot

    Examples: a TDX VM: a shared mask and mirror roots
      | vm  | caller                   | attribute | base                    | TdxZapPrivateV19        | TdxExcludeFlags         |
      | TDX | HVA mmu_notifier         | none      | DIRECT, INVALID         | DIRECT, INVALID         | DIRECT, INVALID         |
      | TDX | guest_memfd invalidation | none      | MIRROR, INVALID         | DIRECT, MIRROR, INVALID | MIRROR, INVALID         |
      | TDX | memory-attribute change  | private   | DIRECT, INVALID         | DIRECT, INVALID         | DIRECT, INVALID         |
      | TDX | memory-attribute change  | shared    | MIRROR, INVALID         | DIRECT, MIRROR, INVALID | MIRROR, INVALID         |
      | TDX | memslot delete/move      | none      | DIRECT, MIRROR, INVALID | DIRECT, MIRROR, INVALID | DIRECT, MIRROR, INVALID |

    Examples: a VM without a shared mask: direct roots only
      | vm           | caller                   | attribute | base            | TdxZapPrivateV19 | TdxExcludeFlags |
      | SW_PROTECTED | HVA mmu_notifier         | none      | DIRECT, INVALID | DIRECT, INVALID  | DIRECT, INVALID |
      | SW_PROTECTED | guest_memfd invalidation | none      | DIRECT, INVALID | DIRECT, INVALID  | DIRECT, INVALID |
      | SW_PROTECTED | memory-attribute change  | private   | DIRECT, INVALID | DIRECT, INVALID  | DIRECT, INVALID |
      | SW_PROTECTED | memory-attribute change  | shared    | DIRECT, INVALID | DIRECT, INVALID  | DIRECT, INVALID |
      | SW_PROTECTED | memslot delete/move      | none      | DIRECT, INVALID | not reached      | not reached     |

  Scenario: The three designs side by side
    v19 zaps the shared roots even when only private memory goes (guest_memfd, a conversion to
    shared): its flag only ever skips private roots. Rick's exclude flags, with the callers
    inferred as the snapshots mark them, agree with the merged attr_filter on every TDX row.
    Before the merge a memslot zap in a VM without a shared mask took kvm_mmu_zap_all_fast()
    and never reached the unmap.

    When every unmap is run under the models base, TdxZapPrivateV19, TdxExcludeFlags
    Then the comparison table matches the snapshot
    And the models disagree on exactly these rows:
      | vm           | caller                   | attribute |
      | TDX          | guest_memfd invalidation | none      |
      | TDX          | memory-attribute change  | shared    |
      | SW_PROTECTED | memslot delete/move      | none      |

  Scenario: An unmap zaps invalid roots too; aging walks the valid ones only
    A vCPU may still run on an invalid root until it is freed, so an unmap must zap it; aging
    has no such duty and asks tdp_mmu_root_match() for valid roots only.

    When the HVA mmu_notifier unmaps a range of a TDX VM, new attribute none
    Then under the base model the unmap zaps DIRECT, INVALID
    And under the base model the roots walked are valid direct, invalid direct
    And under the TdxZapPrivateV19 model the roots walked are valid direct, invalid direct
    When clear_young ages a range of a TDX VM
    Then under the base model the roots walked are valid direct
