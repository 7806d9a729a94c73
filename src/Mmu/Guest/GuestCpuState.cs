namespace SpecKit.Mmu.Guest;

/// <summary>
/// The vCPU state a guest page walk depends on: the control bits KVM folds into the MMU's cpu
/// role (kvm_mmu_role_regs: CR0.WP, CR4.SMEP/SMAP/PKE/LA57, EFER.NX), what permission_fault()
/// reads at fault time (EFLAGS.AC, PKRU), CR3, and two CPUID facts that decide which PTE bits
/// are reserved (MAXPHYADDR, 1-GByte pages). Long mode with paging is assumed (CR0.PG, CR4.PAE
/// and EFER.LMA set), so the walk is 4-level, or 5-level with CR4.LA57.
/// </summary>
public sealed record GuestCpuState
{
    /// <summary>CR0.WP: supervisor writes honour R/W (mmu.c update_permission_bitmask: !cr0_wp allows them).</summary>
    public bool Cr0Wp { get; init; }

    /// <summary>CR4.SMEP: supervisor fetches from user pages fault.</summary>
    public bool Cr4Smep { get; init; }

    /// <summary>CR4.SMAP: supervisor data accesses to user pages fault unless EFLAGS.AC (explicit accesses only).</summary>
    public bool Cr4Smap { get; init; }

    /// <summary>CR4.PKE: PKRU governs data accesses to user pages (mmu.c update_pkru_bitmask).</summary>
    public bool Cr4Pke { get; init; }

    /// <summary>CR4.LA57: 5-level paging (cpu_role.base.level = PT64_ROOT_5LEVEL).</summary>
    public bool Cr4La57 { get; init; }

    /// <summary>EFER.NX: bit 63 (XD) is honoured; without it, bit 63 is reserved (mmu.c __reset_rsvds_bits_mask exb_bit_rsvd).</summary>
    public bool EferNx { get; init; }

    /// <summary>EFLAGS.AC: overrides SMAP for explicit supervisor accesses (mmu.h permission_fault not_smap).</summary>
    public bool EflagsAc { get; init; }

    /// <summary>PKRU: two bits per key, AD (bit 2k) and WD (bit 2k+1).</summary>
    public uint Pkru { get; init; }

    /// <summary>CR3: the root table's address in bits 51:12 (kvm_mmu_get_guest_pgd).</summary>
    public ulong Cr3 { get; init; }

    /// <summary>CPUID MAXPHYADDR: address bits from here to 51 are reserved in every entry. 52 unless a test narrows it.</summary>
    public int MaxPhyAddr { get; init; } = 52;

    /// <summary>CPUID 1-GByte pages: without them PS is reserved in a PDPTE (mmu.c gbpages_bit_rsvd).</summary>
    public bool Gbpages { get; init; } = true;

    /// <summary>cpu_role.base.level: the level of the root table CR3 points to.</summary>
    public int RootLevel => Cr4La57 ? GuestWalker.Pml5eLevel : GuestWalker.Pml4eLevel;

    /// <summary>Whether two states give the same permission and reserved-bit tables (the role bits, not CR3, AC or PKRU).</summary>
    public bool SameRole(GuestCpuState other) =>
        (Cr0Wp, Cr4Smep, Cr4Smap, Cr4Pke, Cr4La57, EferNx, MaxPhyAddr, Gbpages)
        == (other.Cr0Wp, other.Cr4Smep, other.Cr4Smap, other.Cr4Pke, other.Cr4La57, other.EferNx, other.MaxPhyAddr, other.Gbpages);

    /// <summary>The set bits, for logs and snapshots: <c>CR0.WP CR4.SMEP EFER.NX</c>.</summary>
    public override string ToString()
    {
        var bits = new List<string>();
        if (Cr0Wp) bits.Add("CR0.WP");
        if (Cr4Smep) bits.Add("CR4.SMEP");
        if (Cr4Smap) bits.Add("CR4.SMAP");
        if (Cr4Pke) bits.Add("CR4.PKE");
        if (Cr4La57) bits.Add("CR4.LA57");
        if (EferNx) bits.Add("EFER.NX");
        if (EflagsAc) bits.Add("EFLAGS.AC");
        if (Pkru != 0) bits.Add($"PKRU=0x{Pkru:x8}");
        if (MaxPhyAddr != 52) bits.Add($"MAXPHYADDR={MaxPhyAddr}");
        if (!Gbpages) bits.Add("no-1G-pages");
        return bits.Count == 0 ? "(all clear)" : string.Join(' ', bits);
    }
}
