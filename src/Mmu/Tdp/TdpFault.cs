using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Tdp;

/// <summary>
/// struct kvm_page_fault, the parts kvm_tdp_mmu_map() reads: the GFN and the host PFN behind it
/// (aligned to the goal level), the level the host and memslot allow (req_level) and the level
/// to map at (goal_level), and whether a fetch under the NX huge page mitigation disallowed a
/// huge page.
/// </summary>
public readonly record struct TdpFault(
    ulong Gfn,
    ulong Pfn,
    int ReqLevel,
    int GoalLevel,
    AccessKind Access,
    bool HostWritable,
    bool HugePageDisallowed,
    KvmMemorySlot? Slot);
