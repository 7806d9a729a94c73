namespace SpecKit.Mmu.Guest;

/// <summary>
/// The guest-walk half of the kernel's struct kvm_mmu: what kvm_init_mmu() derives from the
/// cpu role when CR0, CR4 or EFER change, so that each walk is table lookups:
/// <list type="bullet">
/// <item>permissions[16], one byte per (W, U, RSVD-as-not-SMAP, I/D) access, one bit per uwx
/// value: does that access to a page with those rights fault (update_permission_bitmask);</item>
/// <item>pkru_mask: which PKRU bits apply to which access (update_pkru_bitmask);</item>
/// <item>rsvd_bits_mask[bit 7][level]: reserved bits per level (__reset_rsvds_bits_mask, PT64).</item>
/// </list>
/// CR3, EFLAGS.AC and PKRU are read from <see cref="Cpu"/> at walk time, as the kernel reads them
/// from the vCPU; <see cref="WithCpu"/> keeps the tables when only those change.
/// </summary>
public sealed class GuestMmu
{
    private const int Levels = GuestWalker.MaxRootLevel;

    private readonly byte[] _permissions;
    private readonly ulong[] _rsvdBitsMask;

    public GuestMmu(GuestCpuState cpu)
    {
        if (cpu.MaxPhyAddr is < 32 or > 52)
        {
            throw new ArgumentOutOfRangeException(nameof(cpu), cpu.MaxPhyAddr, "MAXPHYADDR is between 32 and 52 in long mode");
        }

        Cpu = cpu;
        _permissions = UpdatePermissionBitmask(cpu);
        PkruMask = UpdatePkruBitmask(cpu);
        _rsvdBitsMask = ResetRsvdsBitsMask(cpu);
    }

    private GuestMmu(GuestCpuState cpu, GuestMmu role)
    {
        Cpu = cpu;
        _permissions = role._permissions;
        PkruMask = role.PkruMask;
        _rsvdBitsMask = role._rsvdBitsMask;
    }

    public GuestCpuState Cpu { get; }

    /// <summary>cpu_role.base.level.</summary>
    public int RootLevel => Cpu.RootLevel;

    /// <summary>mmu->pkru_mask: 2 bits (AD applies, WD applies) per PFEC, at bit PFEC.</summary>
    public uint PkruMask { get; }

    /// <summary>mmu->permissions[]: indexed by PFEC &gt;&gt; 1 (with RSVD standing for "SMAP overridden"), bit uwx = fault.</summary>
    public ReadOnlySpan<byte> Permissions => _permissions;

    /// <summary>The same role with a new CR3, EFLAGS.AC or PKRU; a different role builds new tables.</summary>
    public GuestMmu WithCpu(GuestCpuState cpu) => cpu.SameRole(Cpu) ? new GuestMmu(cpu, this) : new GuestMmu(cpu);

    /// <summary>rsvd_bits_mask[bit7][level - 1].</summary>
    public ulong RsvdBitsMask(int level, bool bit7) => _rsvdBitsMask[Index(level, bit7)];

    /// <summary>__is_rsvd_bits_set(): the entry's bit 7 picks the leaf or the table form of the level's mask.</summary>
    public bool IsRsvdBitsSet(ulong gpte, int level) =>
        (gpte & _rsvdBitsMask[((int)(gpte >> GuestPteNonLeaf.PageSizeShift) & 1) * Levels + level - 1]) != 0;

    /// <summary>
    /// permission_fault() (mmu.h): 0 if <paramref name="access"/> may use a page whose accumulated
    /// rights are <paramref name="pteAccess"/> (ACC_* uwx) and whose protection key is
    /// <paramref name="pteKey"/>; otherwise the error code, PFERR_PRESENT_MASK and, for a PKRU
    /// violation, PFERR_PK_MASK.
    /// </summary>
    public ulong PermissionFault(uint pteAccess, uint pteKey, ulong access)
    {
        // Strip KVM's synthetic bits: the index uses W, U and I/D only.
        var pfec = (uint)(access & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK | PfErr.PFERR_FETCH_MASK));

        // SMAP is overridden by EFLAGS.AC for explicit accesses only; the RSVD slot of the index
        // (always 0 in a real PFEC) says "not subject to SMAP".
        var notSmap = Cpu.EflagsAc && (access & PfErr.PFERR_IMPLICIT_ACCESS) == 0;
        var index = (int)((pfec | (notSmap ? (uint)PfErr.PFERR_RSVD_MASK : 0)) >> 1);
        var errcode = PfErr.PFERR_PRESENT_MASK;
        var fault = ((_permissions[index] >> (int)pteAccess) & 1) != 0;

        if (PkruMask != 0)
        {
            // PKRU holds AD and WD for 16 keys; pte_key * 2 is the key's first bit.
            var pkruBits = (Cpu.Pkru >> (int)(pteKey * 2)) & 3;

            // Clear P, and put ACC_USER_MASK where PFEC.RSVD would be.
            var offset = (int)((pfec & ~1u) | ((pteAccess & Acc.ACC_USER_MASK) != 0 ? (uint)PfErr.PFERR_RSVD_MASK : 0));
            pkruBits &= PkruMask >> offset;
            if (pkruBits != 0)
            {
                errcode |= PfErr.PFERR_PK_MASK;
                fault = true;
            }
        }

        return fault ? errcode : 0;
    }

    private static int Index(int level, bool bit7) => ((bit7 ? 1 : 0) * Levels) + level - 1;

    /// <summary>BYTE_MASK(access): bit uwx set for every uwx value that includes <paramref name="acc"/>.</summary>
    private static byte ByteMask(ulong acc)
    {
        var mask = 0;
        for (var uwx = 0; uwx < 8; uwx++)
        {
            if (((ulong)uwx & acc) != 0)
            {
                mask |= 1 << uwx;
            }
        }

        return (byte)mask;
    }

    /// <summary>mmu.c update_permission_bitmask() for a non-EPT MMU.</summary>
    private static byte[] UpdatePermissionBitmask(GuestCpuState cpu)
    {
        var x = ByteMask(Acc.ACC_EXEC_MASK);
        var w = ByteMask(Acc.ACC_WRITE_MASK);
        var u = ByteMask(Acc.ACC_USER_MASK);
        var permissions = new byte[16];
        for (var b = 0; b < permissions.Length; b++)
        {
            var pfec = (ulong)b << 1;
            var write = (pfec & PfErr.PFERR_WRITE_MASK) != 0;
            var user = (pfec & PfErr.PFERR_USER_MASK) != 0;
            var fetch = (pfec & PfErr.PFERR_FETCH_MASK) != 0;
            var smapOverridden = (pfec & PfErr.PFERR_RSVD_MASK) != 0;

            // Each *f has a bit for each uwx value that faults under this PFEC.
            var wf = write ? (byte)~w : (byte)0;
            var uf = user ? (byte)~u : (byte)0;
            var ff = fetch ? (byte)~x : (byte)0;

            // Faults from supervisor accesses to user pages.
            var kf = user ? (byte)0 : u;

            // Without EFER.NX nothing is non-executable (a set XD bit is a reserved-bit fault instead).
            if (!cpu.EferNx)
            {
                ff = 0;
            }

            // CR0.WP=0: supervisor writes ignore R/W.
            if (!cpu.Cr0Wp && !user)
            {
                wf = 0;
            }

            // SMEP: supervisor fetches from user pages.
            var smepf = cpu.Cr4Smep && fetch ? kf : (byte)0;

            // SMAP: supervisor data accesses to user pages, unless overridden (the RSVD slot).
            var smapf = cpu.Cr4Smap && !fetch && !smapOverridden ? kf : (byte)0;

            permissions[b] = (byte)(ff | uf | wf | smepf | smapf);
        }

        return permissions;
    }

    /// <summary>mmu.c update_pkru_bitmask(): PKRU applies to data accesses to user pages; WD to writes when user or CR0.WP.</summary>
    private static uint UpdatePkruBitmask(GuestCpuState cpu)
    {
        if (!cpu.Cr4Pke)
        {
            return 0;
        }

        var pkruMask = 0u;
        for (var bit = 0; bit < 16; bit++)
        {
            var pfec = (ulong)bit << 1;
            var fetch = (pfec & PfErr.PFERR_FETCH_MASK) != 0;
            var user = (pfec & PfErr.PFERR_USER_MASK) != 0;
            var write = (pfec & PfErr.PFERR_WRITE_MASK) != 0;

            // PFEC.RSVD stands for ACC_USER_MASK of the page here.
            var pteUser = (pfec & PfErr.PFERR_RSVD_MASK) != 0;
            var checkPkey = !fetch && pteUser;
            var checkWrite = checkPkey && write && (user || cpu.Cr0Wp);

            // PKRU.AD stops reads and writes; PKRU.WD stops writes.
            var pkeyBits = (checkPkey ? 1u : 0) | (checkWrite ? 2u : 0);
            pkruMask |= pkeyBits << (int)pfec;
        }

        return pkruMask;
    }

    /// <summary>
    /// mmu.c __reset_rsvds_bits_mask() for 4- and 5-level paging on an Intel CPU (no AMD
    /// non-leaf bit 8): address bits at and above MAXPHYADDR, XD without EFER.NX, PS in a
    /// PML5E/PML4E (and in a PDPTE without 1-GByte pages), and each leaf layout's Reserved bits.
    /// </summary>
    private static ulong[] ResetRsvdsBitsMask(GuestCpuState cpu)
    {
        var belowMaxPhyAddr = (1UL << cpu.MaxPhyAddr) - 1;
        var exbBitRsvd = cpu.EferNx ? 0 : GuestPteNonLeaf.NxMask;
        var gbpagesBitRsvd = cpu.Gbpages ? 0 : GuestPdpte1G.PageSizeMask;
        var table = (GuestPteNonLeaf.TableAddrMask & ~belowMaxPhyAddr) | GuestPteNonLeaf.ReservedMask | exbBitRsvd;
        var pte = (GuestPte4K.PageAddrMask & ~belowMaxPhyAddr) | GuestPte4K.ReservedMask | exbBitRsvd;
        var pde2M = (GuestPde2M.PageAddrMask & ~belowMaxPhyAddr) | GuestPde2M.ReservedMask | exbBitRsvd;
        var pdpte1G = (GuestPdpte1G.PageAddrMask & ~belowMaxPhyAddr) | GuestPdpte1G.ReservedMask | exbBitRsvd;

        var masks = new ulong[2 * Levels];
        masks[Index(GuestWalker.Pml5eLevel, false)] = masks[Index(GuestWalker.Pml5eLevel, true)] = table | GuestPteNonLeaf.PageSizeMask;
        masks[Index(GuestWalker.Pml4eLevel, false)] = masks[Index(GuestWalker.Pml4eLevel, true)] = table | GuestPteNonLeaf.PageSizeMask;
        masks[Index(GuestWalker.PdpteLevel, false)] = table | gbpagesBitRsvd;
        masks[Index(GuestWalker.PdpteLevel, true)] = pdpte1G | gbpagesBitRsvd;
        masks[Index(GuestWalker.PdeLevel, false)] = table;
        masks[Index(GuestWalker.PdeLevel, true)] = pde2M;

        // In a PTE bit 7 is PAT, not PS: both forms are the 4K leaf's.
        masks[Index(GuestWalker.PteLevel, false)] = masks[Index(GuestWalker.PteLevel, true)] = pte;
        return masks;
    }
}
