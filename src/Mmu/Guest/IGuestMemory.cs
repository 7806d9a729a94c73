namespace SpecKit.Mmu.Guest;

/// <summary>What a compare-exchange of a guest PTE did (paging_tmpl.h update_accessed_dirty_bits).</summary>
public enum PteCmpxchgResult
{
    /// <summary>The PTE held the expected value and now holds the new one.</summary>
    Exchanged,

    /// <summary>The PTE changed under the walk (__try_cmpxchg_user returned 1): the walk restarts from the root.</summary>
    ValueChanged,

    /// <summary>The table sits in read-only memory (!walker->pte_writable): A/D are not written and the walk goes on.</summary>
    ReadOnly,

    /// <summary>No memory behind the address (-EFAULT): the walk fails as a not-present fault.</summary>
    Fault,
}

/// <summary>
/// Guest-physical memory as the guest walker sees it: 8-byte PTE reads and a PTE
/// compare-exchange for setting Accessed/Dirty. In the kernel both go through the memslot's
/// host virtual address (gfn_to_hva_memslot_prot, get_user, __try_cmpxchg_user); a VM's guest
/// memory implements this over its memslots, and on <see cref="PteCmpxchgResult.Exchanged"/> marks
/// the table's GFN dirty (kvm_vcpu_mark_page_dirty), since the walk wrote guest memory.
/// </summary>
public interface IGuestMemory
{
    /// <summary>
    /// Reads the PTE at <paramref name="gpa"/> (8-byte aligned). False when nothing backs it
    /// (no visible memslot, an error hva, a failed get_user): the walk faults as not-present.
    /// </summary>
    bool TryReadPte(ulong gpa, out ulong pte);

    /// <summary>Reads a PTE that must exist.</summary>
    ulong ReadPte(ulong gpa) =>
        TryReadPte(gpa, out var pte) ? pte : throw new ArgumentOutOfRangeException(nameof(gpa), $"no guest memory at gpa 0x{gpa:x}");

    /// <summary>Writes <paramref name="value"/> at <paramref name="gpa"/> if it still holds <paramref name="expected"/>.</summary>
    PteCmpxchgResult CompareExchangePte(ulong gpa, ulong expected, ulong value);
}

/// <summary>
/// Guest-physical memory as its builder writes it: the guest kernel laying out its page tables
/// before it runs, through the VMM's mapping of guest RAM (so KVM sees none of it), or a test's
/// sparse memory. Reads are <see cref="IGuestMemory"/>'s.
/// </summary>
public interface IGuestPhysicalMemory : IGuestMemory
{
    /// <summary>Writes the 8 bytes at <paramref name="gpa"/> (8-byte aligned).</summary>
    void WritePte(ulong gpa, ulong pte);
}
