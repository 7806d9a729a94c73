using static SpecKit.Mmu.Tests.Guest.AccessReference;

namespace SpecKit.Mmu.Tests.Guest;

/// <summary>
/// Every legal combination of the bits that decide a guest access, as kvm-unit-tests
/// x86/access.c enumerates them, run through the permission oracle (the real walker) and
/// checked against the independent <see cref="AccessReference"/>.
/// </summary>
public class GuestPermissionEnumerationTests
{
    /// <summary>
    /// access.c's main axes: PTE and PDE bits (the PDE a 2M leaf with pde.pse), a read-only
    /// PDPTE, the access, EFER.NX, CR0.WP, CR4.SMEP, CR4.SMAP and EFLAGS.AC, under a 4-level root
    /// whose PML4E is not yet Accessed.
    /// </summary>
    [Fact]
    public void Pte_and_pde_bits_times_cr0_wp_smep_smap_ac_efer_nx_times_every_access()
    {
        var at = new AccessTest(
            "pte.p", "pte.rw", "pte.user", "pte.a", "pte.d", "pte.nx",
            "pde.p", "pde.rw", "pde.user", "pde.a", "pde.d", "pde.pse", "pde.nx",
            "pdpte.ro", "user", "write", "fetch",
            "efer.nx", "cr0.wp", "cr4.smep", "cr4.smap", "eflags.ac");
        var pteFlags = new[] { "pte.p", "pte.rw", "pte.user", "pte.a", "pte.d", "pte.nx" };

        bool Legal(uint flags)
        {
            if (at.F(flags, "write") && at.F(flags, "fetch"))
            {
                return false;
            }

            // A 2M PDE ends the walk: no PTE. Bit 6 of a PDE that references a table is ignored.
            return at.F(flags, "pde.pse") ? !pteFlags.Any(f => at.F(flags, f)) : !at.F(flags, "pde.d");
        }

        foreach (var flags in at.Combinations(Legal))
        {
            bool F(string name) => at.F(flags, name);
            var pml4e = P | RW | US;
            var pdpte = P | US | A | (F("pdpte.ro") ? 0 : RW);
            var pde = Entry(F("pde.p"), F("pde.rw"), F("pde.user"), F("pde.a"), F("pde.d"), F("pde.nx")) | (F("pde.pse") ? PS : 0);
            var pte = Entry(F("pte.p"), F("pte.rw"), F("pte.user"), F("pte.a"), F("pte.d"), F("pte.nx"));
            ulong[] entries = F("pde.pse") ? [pml4e, pdpte, pde] : [pml4e, pdpte, pde, pte];
            var cpu = new Cpu(Wp: F("cr0.wp"), Smep: F("cr4.smep"), Smap: F("cr4.smap"), Ac: F("eflags.ac"), Nx: F("efer.nx"));
            at.Run(flags, cpu, new Access(F("user"), F("write"), F("fetch")), entries);
        }

        // (64 PTE x 32 PDE + 64 2M PDE) x 2 PDPTE x 6 accesses x 32 CPU states.
        at.AssertNoFailures(combinations: 811_008);
    }

    /// <summary>
    /// access.c's protection-key axes: pkey 1 in the leaf, PKRU.AD/WD for key 1, CR4.PKE (AD and
    /// WD only with PKE), with the other keys' PKRU bits as noise; and SMAP with EFLAGS.AC for
    /// explicit and implicit supervisor accesses.
    /// </summary>
    [Fact]
    public void Protection_keys_and_implicit_accesses_times_cr0_wp_smap_ac_times_every_access()
    {
        var at = new AccessTest(
            "pte.rw", "pte.user", "pte.d", "pde.rw", "pde.user",
            "pkey=1", "pkru.ad", "pkru.wd", "pkru.others", "cr4.pke",
            "user", "write", "fetch", "implicit", "cr0.wp", "cr4.smap", "eflags.ac", "efer.nx");

        bool Legal(uint flags) =>
            !(at.F(flags, "write") && at.F(flags, "fetch"))
            && !(at.F(flags, "implicit") && at.F(flags, "user"))
            && (at.F(flags, "cr4.pke") || !(at.F(flags, "pkru.ad") || at.F(flags, "pkru.wd")));

        foreach (var flags in at.Combinations(Legal))
        {
            bool F(string name) => at.F(flags, name);
            var pte = Entry(true, F("pte.rw"), F("pte.user"), true, F("pte.d"), false) | (F("pkey=1") ? 1UL << PkeyShift : 0);
            var pde = Entry(true, F("pde.rw"), F("pde.user"), true, false, false);
            var pkru = (F("pkru.ad") ? 1u << 2 : 0) | (F("pkru.wd") ? 1u << 3 : 0) | (F("pkru.others") ? 0xffff_fff0u : 0);
            var cpu = new Cpu(Wp: F("cr0.wp"), Smap: F("cr4.smap"), Ac: F("eflags.ac"), Nx: F("efer.nx"), Pke: F("cr4.pke"), Pkru: pkru);
            at.Run(flags, cpu, new Access(F("user"), F("write"), F("fetch"), F("implicit")), [P | RW | US | A, P | RW | US | A, pde, pte]);
        }

        // 2^18 flag sets, 3/4 without write+fetch, 3/4 without implicit+user, 5/8 without AD or WD when PKE is clear.
        at.AssertNoFailures(combinations: 92_160);
    }

    /// <summary>A 1G leaf: PDPTE bits under a PML4E's, with and without CPUID 1-GByte pages (PS reserved without them).</summary>
    [Fact]
    public void One_gigabyte_leaf_times_cpu_state_times_every_access()
    {
        var at = new AccessTest(
            "pdpte.p", "pdpte.rw", "pdpte.user", "pdpte.a", "pdpte.d", "pdpte.nx",
            "pml4e.rw", "pml4e.user", "pml4e.nx", "user", "write", "fetch",
            "efer.nx", "cr0.wp", "cr4.smep", "cr4.smap", "eflags.ac", "no-gbpages");

        foreach (var flags in at.Combinations(f => !(at.F(f, "write") && at.F(f, "fetch"))))
        {
            bool F(string name) => at.F(flags, name);
            var pml4e = Entry(true, F("pml4e.rw"), F("pml4e.user"), true, false, F("pml4e.nx"));
            var pdpte = Entry(F("pdpte.p"), F("pdpte.rw"), F("pdpte.user"), F("pdpte.a"), F("pdpte.d"), F("pdpte.nx")) | PS;
            var cpu = new Cpu(Wp: F("cr0.wp"), Smep: F("cr4.smep"), Smap: F("cr4.smap"), Ac: F("eflags.ac"), Nx: F("efer.nx"), Gbpages: !F("no-gbpages"));
            at.Run(flags, cpu, new Access(F("user"), F("write"), F("fetch")), [pml4e, pdpte]);
        }

        // 2^18 flag sets, 3/4 without write+fetch.
        at.AssertNoFailures(combinations: 196_608);
    }

    /// <summary>5-level paging (CR4.LA57): the PML5E's bits, PS reserved there, accumulate with the 4K leaf's.</summary>
    [Fact]
    public void Five_level_root_times_leaf_bits_times_every_access()
    {
        var at = new AccessTest(
            "pml5e.p", "pml5e.rw", "pml5e.user", "pml5e.a", "pml5e.nx", "pml5e.ps",
            "pte.p", "pte.rw", "pte.user", "pte.d", "user", "write", "fetch",
            "efer.nx", "cr0.wp", "cr4.smep", "cr4.smap");

        foreach (var flags in at.Combinations(f => !(at.F(f, "write") && at.F(f, "fetch"))))
        {
            bool F(string name) => at.F(flags, name);
            var pml5e = Entry(F("pml5e.p"), F("pml5e.rw"), F("pml5e.user"), F("pml5e.a"), false, F("pml5e.nx")) | (F("pml5e.ps") ? PS : 0);
            var pte = Entry(F("pte.p"), F("pte.rw"), F("pte.user"), true, F("pte.d"), false);
            var cpu = new Cpu(Wp: F("cr0.wp"), Smep: F("cr4.smep"), Smap: F("cr4.smap"), Nx: F("efer.nx"), La57: true);
            at.Run(flags, cpu, new Access(F("user"), F("write"), F("fetch")), [pml5e, P | RW | US | A, P | RW | US, P | RW | US | A, pte]);
        }

        // 2^17 flag sets, 3/4 without write+fetch.
        at.AssertNoFailures(combinations: 98_304);
    }

    /// <summary>
    /// One reserved bit at a time in one entry, for each leaf size and root level, at several
    /// MAXPHYADDRs: address bits at and above MAXPHYADDR anywhere, PS in a PML4E/PML5E, bits
    /// 20:13 of a 2M leaf and 29:13 of a 1G leaf, XD without EFER.NX; and the same bits where
    /// they are not reserved (a 4K leaf's address, XD with EFER.NX) must not fault.
    /// </summary>
    [Fact]
    public void Reserved_bits_one_at_a_time_at_every_level()
    {
        var at = new AccessTest();
        int[] leafBits = [12, 13, 20, 21, 29, 30, 35, 36, 39, 40, 45, 46, 51, 63];
        foreach (var maxPhyAddr in new[] { 36, 40, 46, 52 })
        foreach (var la57 in new[] { false, true })
        foreach (var leafLevel in new[] { 1, 2, 3 })
        foreach (var nx in new[] { false, true })
        foreach (var user in new[] { false, true })
        {
            var rootLevel = la57 ? 5 : 4;
            var count = rootLevel - leafLevel + 1;
            for (var i = 0; i < count; i++)
            {
                var level = rootLevel - i;
                var isLeaf = i == count - 1;

                // A table entry's low address bits choose the next table, so only the bits
                // that reserved-bit checking stops first are set there: at and above
                // MAXPHYADDR, XD, and PS at levels 4 and 5.
                var candidates = isLeaf
                    ? leafBits
                    : leafBits.Where(b => b >= maxPhyAddr && b < 52 || b == 63).Concat(level >= 4 ? [7] : []).ToArray();
                foreach (var bit in candidates)
                {
                    var entries = Enumerable.Repeat(P | RW | US | A, count).ToArray();
                    entries[^1] |= D | (leafLevel > 1 ? PS : 0);
                    entries[i] |= 1UL << bit;
                    var cpu = new Cpu(Wp: true, Nx: nx, La57: la57, MaxPhyAddr: maxPhyAddr);
                    at.Run(
                        () => $"MAXPHYADDR={maxPhyAddr} {(la57 ? "5" : "4")}-level leaf={leafLevel} efer.nx={nx} user={user} bit {bit} at level {level}",
                        0,
                        cpu,
                        new Access(user, Write: true, Fetch: false),
                        entries);
                }
            }
        }

        // 4 MAXPHYADDRs x 2 root levels x 3 leaf sizes x EFER.NX x user, over the bits above.
        at.AssertNoFailures(combinations: 2_448);
        Assert.True(at.ExpectedRsvd > at.Tests / 2, $"only {at.ExpectedRsvd} of {at.Tests} cases hit a reserved bit");
    }

    private static ulong Entry(bool present, bool writable, bool user, bool accessed, bool dirty, bool nx) =>
        (present ? P : 0) | (writable ? RW : 0) | (user ? US : 0) | (accessed ? A : 0) | (dirty ? D : 0) | (nx ? XD : 0);
}
