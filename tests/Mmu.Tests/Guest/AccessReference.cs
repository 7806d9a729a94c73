namespace SpecKit.Mmu.Tests.Guest;

/// <summary>
/// An independent model of what an x86-64 guest access does, written after kvm-unit-tests
/// x86/access.c (ac_emulate_access, ac_test_permissions) and the SDM (Vol.3A 4.5, 4.6, 4.7),
/// not after KVM's bitmask tables. The bit positions are typed here from the SDM rather than
/// taken from the generated layouts or the runtime, so a wrong bit in either shows up.
/// </summary>
internal static class AccessReference
{
    // SDM Vol.3A Tables 4-14..4-20.
    public const ulong P = 1UL << 0;
    public const ulong RW = 1UL << 1;
    public const ulong US = 1UL << 2;
    public const ulong A = 1UL << 5;
    public const ulong D = 1UL << 6;
    public const ulong PS = 1UL << 7;
    public const ulong XD = 1UL << 63;
    public const int PkeyShift = 59;

    // SDM Vol.3A 4.7, Figure 4-12.
    public const ulong PfPresent = 1UL << 0;
    public const ulong PfWrite = 1UL << 1;
    public const ulong PfUser = 1UL << 2;
    public const ulong PfRsvd = 1UL << 3;
    public const ulong PfFetch = 1UL << 4;
    public const ulong PfPk = 1UL << 5;

    public sealed record Cpu(
        bool Wp = false,
        bool Smep = false,
        bool Smap = false,
        bool Ac = false,
        bool Nx = false,
        bool Pke = false,
        uint Pkru = 0,
        bool La57 = false,
        int MaxPhyAddr = 52,
        bool Gbpages = true)
    {
        public int RootLevel => La57 ? 5 : 4;
    }

    public sealed record Access(bool User, bool Write, bool Fetch, bool Implicit = false);

    /// <summary>The expected outcome: fault, error code, and per entry (root first) the bits the walk sets.</summary>
    public sealed record Expected(bool Fault, ulong Error, ulong[] Set);

    /// <summary>
    /// <paramref name="entries"/> as the page table holds them, root first; the walk ends at the
    /// first entry with PS set, or at the 4K PTE.
    /// </summary>
    public static Expected Expect(Cpu cpu, ulong[] entries, Access access)
    {
        var error = PfPresent;
        if (access.User) error |= PfUser;
        if (access.Write) error |= PfWrite;
        if (access.Fetch) error |= PfFetch;

        var fault = false;
        bool writable = true, user = true, executable = true;
        var leaf = -1;
        for (var i = 0; i < entries.Length; i++)
        {
            var level = cpu.RootLevel - i;
            var e = entries[i];
            if ((e & P) == 0)
            {
                fault = true;
                error &= ~PfPresent;
                break;
            }

            if (Reserved(cpu, e, level))
            {
                fault = true;
                error |= PfRsvd;
                break;
            }

            writable &= (e & RW) != 0;
            user &= (e & US) != 0;
            executable &= (e & XD) == 0;
            if (level == 1 || (e & PS) != 0)
            {
                leaf = i;
                break;
            }
        }

        if (!fault)
        {
            if (leaf < 0)
            {
                throw new ArgumentException("the entries end before the walk reaches a leaf", nameof(entries));
            }

            // ac_test_permissions: CR0.WP=0 lets supervisor writes through read-only pages.
            var kwritable = !cpu.Wp && !access.User;
            if (access.User && !user) fault = true;
            if (access.Write && !writable && !kwritable) fault = true;
            if (access.Fetch && !executable) fault = true;

            // SMEP: no supervisor fetch from a user page. SMAP: no supervisor data access to a
            // user page unless EFLAGS.AC, which an implicit access cannot use.
            if (access.Fetch && !access.User && user && cpu.Smep) fault = true;
            if (!access.Fetch && !access.User && user && cpu.Smap && (!cpu.Ac || access.Implicit)) fault = true;

            // Protection keys: data accesses to user pages, AD stops all, WD stops writes that
            // CR0.WP (or user mode) subjects to R/W.
            if (cpu.Pke && user && !access.Fetch)
            {
                var key = (int)((entries[leaf] >> PkeyShift) & 0xf);
                var ad = ((cpu.Pkru >> (2 * key)) & 1) != 0;
                var wd = ((cpu.Pkru >> ((2 * key) + 1)) & 1) != 0;
                if (ad || (access.Write && wd && !kwritable))
                {
                    fault = true;
                    error |= PfPk;
                }
            }
        }

        // I/D is reported only if fetches can fault (SDM 4.7).
        if (!cpu.Nx && !cpu.Smep)
        {
            error &= ~PfFetch;
        }

        var set = new ulong[entries.Length];
        if (!fault)
        {
            for (var i = 0; i <= leaf; i++)
            {
                set[i] = (entries[i] & A) ^ A;
            }

            if (access.Write && (entries[leaf] & D) == 0)
            {
                set[leaf] |= D;
            }
        }

        return new Expected(fault, fault ? error : 0, set);
    }

    /// <summary>Reserved bits: address bits at and above MAXPHYADDR, XD without EFER.NX, PS at levels 4 and 5 (and 3 without 1G pages), and the leaf-only reserved ranges.</summary>
    public static bool Reserved(Cpu cpu, ulong e, int level)
    {
        var aboveMaxPhyAddr = ((1UL << 52) - 1) & ~((1UL << cpu.MaxPhyAddr) - 1);
        if ((e & aboveMaxPhyAddr) != 0) return true;
        if (!cpu.Nx && (e & XD) != 0) return true;
        if (level >= 4 && (e & PS) != 0) return true;
        if (level == 3 && (e & PS) != 0 && (!cpu.Gbpages || (e & Bits(29, 13)) != 0)) return true;
        if (level == 2 && (e & PS) != 0 && (e & Bits(20, 13)) != 0) return true;
        return false;
    }

    public static ulong Bits(int hi, int lo) => ((1UL << (hi - lo + 1)) - 1) << lo;
}
