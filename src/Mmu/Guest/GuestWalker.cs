using System.Runtime.CompilerServices;
using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu;

// The generated GuestWalker (spec/walkers/guest.walker) holds the geometry; this half is the
// walk itself, paging_tmpl.h FNAME(walk_addr_generic) for PTTYPE 64 (4- and 5-level paging,
// A/D bits always supported). It lives in the generated class's namespace so that the two
// halves are one type.
public static partial class GuestWalker
{
    private const ulong AccessBits = PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK | PfErr.PFERR_FETCH_MASK | PfErr.PFERR_IMPLICIT_ACCESS;

    /// <summary>PT64_NX_MASK: inverted during the walk so that XD accumulates by AND like W and U.</summary>
    private const ulong WalkNxMask = GuestPteNonLeaf.NxMask;

    private const ulong AccessedMask = GuestPteNonLeaf.AccessedMask;

    /// <summary>Walks the guest page table for <paramref name="access"/> to <paramref name="addr"/>; see the other overload.</summary>
    public static bool Walk(IGuestMemory memory, GuestMmu mmu, ulong addr, GuestAccess access, out GuestWalk walker) =>
        Walk(memory, mmu, addr, access.Pfec, out walker);

    /// <summary>
    /// FNAME(walk_addr_generic): walks from CR3 to the leaf that maps <paramref name="addr"/>,
    /// checking each entry for P and reserved bits and the leaf's accumulated rights against
    /// <paramref name="access"/> (PFERR_WRITE/USER/FETCH_MASK, PFERR_IMPLICIT_ACCESS) with
    /// permission_fault(); then sets Accessed on every level walked and Dirty on the leaf for a
    /// write, unless they are set already. Returns true with the translation, or false with
    /// the #PF error code in <paramref name="walker"/>. A faulting walk sets no A/D bit.
    /// </summary>
    public static bool Walk(IGuestMemory memory, GuestMmu mmu, ulong addr, ulong access, out GuestWalk walker)
    {
        if ((access & ~AccessBits) != 0 || (access & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_FETCH_MASK)) == (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_FETCH_MASK))
        {
            throw new ArgumentException($"access 0x{access:x} is not W, U, I/D and PFERR_IMPLICIT_ACCESS with at most one of W and I/D", nameof(access));
        }

        walker = default;
        walker.Addr = addr;
        walker.Access = access;

        // The walk reads the vCPU state once, as the kernel reads CR3 once (mmu->get_guest_pgd);
        // the fault bits of the access are recomputed where the error code needs them, so that
        // the loop below has registers enough for what it carries from level to level.
        var cpu = mmu.Cpu;
        var writeFault = access & PfErr.PFERR_WRITE_MASK;
        var gfnOfAddr = addr >> PageShift;
        ulong errcode;

    retryWalk:
        errcode = 0;
        var level = cpu.RootLevel;
        var pte = cpu.Cr3;
        walker.MaxLevel = level;
        ulong ptAccess;
        var pteAccess = ~0UL;
        level++;

        do
        {
            ptAccess = pteAccess;
            --level;

            var index = SpteIndex(gfnOfAddr, level);
            var tableGfn = GpteToGfn(pte);
            var pteGpa = (tableGfn << PageShift) + ((ulong)index * sizeof(ulong));
            walker.TableGfns[level - 1] = tableGfn;
            walker.PteGpas[level - 1] = pteGpa;

            // No memory behind the table (no visible memslot, an error hva, get_user failing):
            // a not-present fault.
            if (!memory.TryReadPte(pteGpa, out pte))
            {
                walker.Level = level;
                goto error;
            }

            // Recorded before the checks (the kernel records it after), so that a faulting
            // walk still shows the entry it stopped at.
            walker.Ptes[level - 1] = pte;

            // Inverting NX lets it be ANDed like the other permission bits.
            pteAccess = ptAccess & (pte ^ WalkNxMask);

            if (!IsPresentGpte(pte))
            {
                walker.Level = level;
                goto error;
            }

            if (mmu.IsRsvdBitsSet(pte, level))
            {
                walker.Level = level;
                errcode = PfErr.PFERR_RSVD_MASK | PfErr.PFERR_PRESENT_MASK;
                goto error;
            }

            // pt_access[level - 1] as the walk carries it (NX inverted); GuestWalk.PtAccess turns it
            // into ACC_* bits (FNAME(gpte_access)) when asked, which a warm walk never does.
            walker.PtAccesses[level - 1] = ptAccess;
        }
        while (!IsLastGpte(pte, level));

        walker.Level = level;
        var pteKey = GptePkey(pte, level);
        var accessedDirty = pteAccess & AccessedMask;

        var rights = GpteAccess(pteAccess ^ WalkNxMask);
        walker.PteAccess = rights;
        errcode = mmu.PermissionFault(rights, pteKey, access);
        if (errcode != 0)
        {
            goto error;
        }

        var gfn = GpteToGfnLvl(pte, level) + (gfnOfAddr & (PagesPerHpage(level) - 1));
        walker.Gfn = gfn;
        walker.Gpa = (gfn << PageShift) | (addr & ((1UL << PageShift) - 1));

        if (writeFault == 0)
        {
            walker.PteAccess = ProtectCleanGpte(rights, pte);
        }
        else
        {
            // A write also needs D in the leaf: fold it into accessed_dirty.
            accessedDirty &= pte >> (GuestPte4K.DirtyShift - GuestPte4K.AccessedShift);
        }

        if (accessedDirty == 0)
        {
            var ret = UpdateAccessedDirtyBits(memory, ref walker, writeFault != 0);
            if (ret < 0)
            {
                goto error;
            }

            if (ret > 0)
            {
                walker.Retries++;
                goto retryWalk;
            }
        }

        return true;

    error:
        errcode |= access & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK);

        // I/D is reported only when fetches can fault: EFER.NX or CR4.SMEP (has_pferr_fetch).
        if ((access & PfErr.PFERR_FETCH_MASK) != 0 && (cpu.EferNx || cpu.Cr4Smep))
        {
            errcode |= PfErr.PFERR_FETCH_MASK;
        }

        walker.Faulted = true;
        walker.ErrorCode = errcode;
        return false;
    }

    /// <summary>
    /// FNAME(update_accessed_dirty_bits): sets A in every entry from the root to the leaf and D
    /// in the leaf for a write, by compare-exchange. 0 when done, 1 when an entry changed under
    /// the walk (the walk restarts), -1 when the memory failed (-EFAULT). Read-only memory
    /// (!walker->pte_writable) is left as it is.
    /// </summary>
    private static int UpdateAccessedDirtyBits(IGuestMemory memory, ref GuestWalk walker, bool writeFault)
    {
        for (var level = walker.MaxLevel; level >= walker.Level; --level)
        {
            var origPte = walker.Ptes[level - 1];
            var pte = origPte | AccessedMask;
            if (level == walker.Level && writeFault)
            {
                pte |= LeafDirtyMask(level);
            }

            if (pte == origPte)
            {
                continue;
            }

            switch (memory.CompareExchangePte(walker.PteGpas[level - 1], origPte, pte))
            {
                case PteCmpxchgResult.Exchanged:
                    walker.Ptes[level - 1] = pte;
                    if ((origPte & AccessedMask) == 0)
                    {
                        walker.AccessedSetLevels |= 1 << (level - 1);
                    }

                    walker.DirtySet |= ((pte ^ origPte) & LeafDirtyMask(level)) != 0 && level == walker.Level;
                    break;
                case PteCmpxchgResult.ReadOnly:
                    break;
                case PteCmpxchgResult.ValueChanged:
                    return 1;
                default:
                    return -1;
            }
        }

        return 0;
    }

    /// <summary>walker->pt_access from the rights a walk accumulated with NX inverted: FNAME(gpte_access) of them.</summary>
    internal static uint PtAccessOf(ulong walkAccess) => GpteAccess(walkAccess ^ WalkNxMask);

    /// <summary>FNAME(is_present_gpte).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsPresentGpte(ulong gpte) => IsShadowPresent(gpte);

    /// <summary>FNAME(is_last_gpte): a 4K entry always ends the walk; above it, PS does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsLastGpte(ulong gpte, int level) => IsLastSpte(gpte, level);

    /// <summary>gpte_to_gfn(): the table (or 4K page) an entry points to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong GpteToGfn(ulong gpte) => SpteToPfn(gpte);

    /// <summary>gpte_to_gfn_lvl(): the first frame of the page a leaf at <paramref name="level"/> maps (PT_LVL_ADDR_MASK).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong GpteToGfnLvl(ulong gpte, int level) => (gpte & LeafAddrMask(level)) >> PageShift;

    /// <summary>FNAME(gpte_access): P is set, so W, U and !XD are the rights (ACC_* uwx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint GpteAccess(ulong gpte) =>
        (uint)(gpte & (Acc.ACC_WRITE_MASK | Acc.ACC_USER_MASK)) | ((gpte & GuestPteNonLeaf.NxMask) != 0 ? 0 : (uint)Acc.ACC_EXEC_MASK);

    /// <summary>FNAME(protect_clean_gpte): no W for a clean leaf, so the first write faults and KVM can set D.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint ProtectCleanGpte(uint access, ulong gpte)
    {
        var mask = ~(uint)Acc.ACC_WRITE_MASK;
        mask |= (uint)((gpte >> (GuestPte4K.DirtyShift - GuestPte4K.WritableShift)) & GuestPte4K.WritableMask);
        return access & mask;
    }

    /// <summary>FNAME(gpte_pkeys): the leaf's protection key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint GptePkey(ulong gpte, int level) => level switch
    {
        PteLevel => (uint)new GuestPte4K(gpte).ProtKey,
        PdeLevel => (uint)new GuestPde2M(gpte).ProtKey,
        _ => (uint)new GuestPdpte1G(gpte).ProtKey,
    };

    /// <summary>The leaf's page address field at <paramref name="level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LeafAddrMask(int level) => level switch
    {
        PteLevel => GuestPte4K.PageAddrMask,
        PdeLevel => GuestPde2M.PageAddrMask,
        _ => GuestPdpte1G.PageAddrMask,
    };

    private static ulong LeafDirtyMask(int level) => level switch
    {
        PteLevel => GuestPte4K.DirtyMask,
        PdeLevel => GuestPde2M.DirtyMask,
        _ => GuestPdpte1G.DirtyMask,
    };

    /// <summary>An entry typed by the layout it has at <paramref name="level"/>: 4K PTE, 2M PDE, 1G PDPTE, or a table entry.</summary>
    public static string DescribeGpte(ulong gpte, int level) => level switch
    {
        PteLevel => new GuestPte4K(gpte).ToString(),
        PdeLevel when (gpte & HugeMask) != 0 => new GuestPde2M(gpte).ToString(),
        PdpteLevel when (gpte & HugeMask) != 0 => new GuestPdpte1G(gpte).ToString(),
        _ => new GuestPteNonLeaf(gpte).ToString(),
    };
}
