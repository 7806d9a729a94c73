using SpecKit.Kernel.Guest;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using GuestAccess = SpecKit.Uapi.GuestAccess;

namespace SpecKit.Kernel.Tests;

/// <summary>
/// The kernel's guest page-table walker against the model's guest PTE layouts
/// (spec/layouts/guest-pte.layout). The batch guest runs with 4-level paging
/// (<see cref="KernelVcpu.EnablePaging"/>) through tables the model's own <see cref="GuestPageTables"/>
/// builds from the generated GuestPteNonLeaf/GuestPte4K/GuestPde2M/GuestPdpte1G types, and the
/// host reads back what the walk did. The walker is arch/x86/kvm/mmu/paging_tmpl.h
/// FNAME(walk_addr_generic) for PTTYPE 64, which KVM's emulator runs for every access on this
/// host (and a CPU's page walker does the same on one with EPT/NPT): it uses the architectural
/// bits, so a layout that names the wrong bit for a field fails here, where model-only scenarios,
/// which write and read entries through the same layout, cannot tell.
/// Faults are seen as a triple fault (the guest has no IDT): KVM_EXIT_SHUTDOWN with CR2 set.
/// </summary>
public sealed unsafe class GuestPagingTests : KernelTest
{
    /// <summary>The data mappings: linear addresses and the guest-physical pages behind them (not the same, so the translation shows).</summary>
    private const ulong Va4K = 0x1_0000;
    private const ulong Pa4K = 0x2_0000;
    private const ulong Va2M = 0x60_0000;
    private const ulong Pa2M = 0x20_0000;
    private const ulong Va1G = 0x4000_0000;
    private const ulong Pa1G = 0x8000_0000;

    /// <summary>Slot 0 at gpa 0: the tables (from <see cref="GuestPageTables.DefaultTableBaseGfn"/>) and the 4K and 2M pages.</summary>
    private const ulong LowPages = 0x800;

    /// <summary>Slot 1: the first pages of the 1G page.</summary>
    private const ulong HighPages = 16;

    private const ulong Table = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask;
    private const ulong Leaf4K = GuestPte4K.PresentMask | GuestPte4K.WritableMask;
    private const ulong Leaf2M = GuestPde2M.PresentMask | GuestPde2M.WritableMask;
    private const ulong Leaf1G = GuestPdpte1G.PresentMask | GuestPdpte1G.WritableMask;

    private const uint ExitShutdown = 8;

    private GuestMemslots? _memory;
    private GuestPageTables? _tables;

    public enum Leaf
    {
        Pte4K,
        Pde2M,
        Pdpte1G,
    }

    private MemoryRegionFlags _lowFlags;

    private GuestMemslots Memory => _memory ??= new GuestMemslots(
        (0, Memslot(0, 0, LowPages, _lowFlags), LowPages * Page),
        (Pa1G, Memslot(1, Pa1G, HighPages), HighPages * Page));

    /// <summary>The tables, with the code and mailboxes mapped by one 2M page at their own address.</summary>
    private GuestPageTables Tables
    {
        get
        {
            if (_tables is null)
            {
                _tables = new GuestPageTables(Memory, GuestWalker.MinRootLevel);
                SystemMapping(Leaf2M);
            }

            return _tables;
        }
    }

    /// <summary>
    /// FNAME(walk_addr_generic) sets Accessed in every entry it walked and no other bit on a
    /// load (FNAME(update_accessed_dirty_bits) ORs PT_GUEST_ACCESSED_MASK into each pte whose
    /// walker->ptes[] lacks it, and PT_GUEST_DIRTY_MASK only in the leaf, only for a write).
    /// </summary>
    [KvmFact(Needs = [GuestCpuFeature.LongMode])]
    public void A_load_through_a_4K_page_sets_exactly_Accessed_in_each_entry_it_walked()
    {
        Tables.Map(Va4K, Pa4K, Table, Table, Table, Leaf4K);
        Poke(Pa4K + 0x10, 0xCAFE);
        var vcpu = Paged(PagingControls.WriteProtect);
        var before = Walk(Va4K, Leaf.Pte4K);

        Assert.Equal([0xCAFEUL], Done(vcpu.Run([GuestAccess.Read(Va4K + 0x10)])).Values);

        Assert.Equal(Accessed(before, Leaf.Pte4K), Walk(Va4K, Leaf.Pte4K));
    }

    /// <summary>A store also sets Dirty, in the leaf only (FNAME(update_accessed_dirty_bits): write_fault && level == walker->level).</summary>
    [KvmFact(Needs = [GuestCpuFeature.LongMode])]
    public void A_store_through_a_4K_page_sets_Dirty_in_the_leaf_and_only_Accessed_above_it()
    {
        Tables.Map(Va4K, Pa4K, Table, Table, Table, Leaf4K);
        var vcpu = Paged(PagingControls.WriteProtect);
        var before = Walk(Va4K, Leaf.Pte4K);

        Done(vcpu.Run([GuestAccess.Write(Va4K + 0x20, 7)]));

        Assert.Equal(7u, Peek(Pa4K + 0x20));
        var expected = Accessed(before, Leaf.Pte4K);
        expected[^1] |= GuestPte4K.DirtyMask;
        Assert.Equal(expected, Walk(Va4K, Leaf.Pte4K));
    }

    /// <summary>
    /// The walk's A/D updates are guest-memory writes: FNAME(update_accessed_dirty_bits) marks
    /// the gfn of each table whose entry it changed dirty (kvm_vcpu_mark_page_dirty(), called
    /// from kvm_try_cmpxchg_user() in newer kernels), so with dirty logging a load dirties exactly
    /// the page-table pages (the code fetch's and mailbox's walks share the root and set A or D in
    /// their own tables) and not the page it read. The model's IGuestMemory promises the same.
    /// </summary>
    [KvmFact(Needs = [GuestCpuFeature.LongMode])]
    public void A_load_dirty_logs_the_tables_whose_entries_got_Accessed_and_not_the_page_it_read()
    {
        _lowFlags = MemoryRegionFlags.LogDirtyPages;
        Tables.Map(Va4K, Pa4K, Table, Table, Table, Leaf4K);
        var vcpu = Paged(PagingControls.WriteProtect);

        Done(vcpu.Run([GuestAccess.Read(Va4K)]));

        Assert.Equal(DirtyBitmap.Of(LowPages, [.. Tables.TableGfns]), Vm.GetDirtyLog(new MemslotId(0)).Value);
    }

    /// <summary>
    /// PS in a PDE or PDPTE makes it the leaf (SDM Vol. 3A 4.5.4; walk_addr_generic stops at
    /// is_last_gpte()): the offset within the 2M or 1G page comes from the linear address, so an
    /// access above the first 4K lands there, and the huge entry gets Accessed and, on a store,
    /// Dirty, as a 4K leaf does.
    /// </summary>
    [KvmTheory(Needs = [GuestCpuFeature.LongMode])]
    [InlineData(Leaf.Pde2M)]
    [KvmInlineData(Leaf.Pdpte1G, Needs = [GuestCpuFeature.Gbpages])]
    public void A_PS_entry_maps_a_huge_page_and_gets_Accessed_and_Dirty(Leaf leaf)
    {
        var (va, pa) = Map(leaf, LeafBits(leaf));
        Poke(pa + 0x5008, 0xBEEF);
        var vcpu = Paged(PagingControls.WriteProtect);
        var before = Walk(va, leaf);

        Assert.Equal([0xBEEFUL], Done(vcpu.Run([GuestAccess.Read(va + 0x5008)])).Values);
        var expected = Accessed(before, leaf);
        Assert.Equal(expected, Walk(va, leaf));

        Done(vcpu.Run([GuestAccess.Write(va + 0x7000, 9)]));
        Assert.Equal(9u, Peek(pa + 0x7000));
        expected[^1] |= leaf == Leaf.Pde2M ? GuestPde2M.DirtyMask : GuestPdpte1G.DirtyMask;
        Assert.Equal(expected, Walk(va, leaf));
    }

    /// <summary>
    /// Under CR0.WP a supervisor store to a page some entry of whose walk lacks R/W faults
    /// (SDM Vol. 3A 4.6.1; permission_fault() with the ACC_WRITE_MASK that walk_addr_generic ANDs
    /// over the levels), while a load goes through. A faulting walk sets no Accessed or Dirty bit:
    /// walk_addr_generic goes to its error label before FNAME(update_accessed_dirty_bits).
    /// </summary>
    [KvmTheory(Needs = [GuestCpuFeature.LongMode])]
    [InlineData(Leaf.Pte4K, false)]
    [InlineData(Leaf.Pte4K, true)]
    [InlineData(Leaf.Pde2M, false)]
    [KvmInlineData(Leaf.Pdpte1G, false, Needs = [GuestCpuFeature.Gbpages])]
    public void A_store_where_R_W_is_clear_faults_under_CR0_WP_and_a_load_does_not(Leaf leaf, bool inTable)
    {
        var readOnly = leaf switch
        {
            Leaf.Pte4K => GuestPte4K.PresentMask,
            Leaf.Pde2M => GuestPde2M.PresentMask,
            _ => GuestPdpte1G.PresentMask,
        };
        var (va, pa) = inTable
            ? Map4K(Table, Table, GuestPteNonLeaf.PresentMask, Leaf4K)
            : Map(leaf, readOnly);
        Poke(pa + 0x10, 0x55);
        var vcpu = Paged(PagingControls.WriteProtect);

        Assert.Equal([0x55UL], Done(vcpu.Run([GuestAccess.Read(va + 0x10)])).Values);
        var afterLoad = Walk(va, leaf);

        AssertFaults(vcpu, vcpu.Run([GuestAccess.Write(va + 0x10, 0x66)]), va + 0x10);
        Assert.Equal(0x55u, Peek(pa + 0x10));
        Assert.Equal(afterLoad, Walk(va, leaf));
    }

    /// <summary>
    /// At CPL 3 every access needs U/S in every entry of its walk (SDM Vol. 3A 4.6.1;
    /// permission_fault() with PFERR_USER_MASK against the ACC_USER_MASK walk_addr_generic ANDs
    /// over the levels): with U/S everywhere, the batch's code, mailbox and data included, a load
    /// goes through and gets Accessed; one supervisor entry, in the leaf or in a table above it,
    /// and it faults, setting no Accessed bit.
    /// </summary>
    [KvmTheory(Needs = [GuestCpuFeature.LongMode])]
    [InlineData(Leaf.Pte4K, false)]
    [InlineData(Leaf.Pte4K, true)]
    [InlineData(Leaf.Pde2M, false)]
    [KvmInlineData(Leaf.Pdpte1G, false, Needs = [GuestCpuFeature.Gbpages])]
    public void At_CPL_3_a_load_needs_U_S_in_every_entry_of_its_walk(Leaf leaf, bool inTable)
    {
        var (va, pa) = MapUser(this, leaf, supervisorAt: null);
        Poke(pa + 0x10, 0x77);
        var vcpu = Paged(PagingControls.User | PagingControls.WriteProtect);
        var before = Walk(va, leaf);
        Assert.Equal([0x77UL], Done(vcpu.Run([GuestAccess.Read(va + 0x10)])).Values);
        Assert.Equal(Accessed(before, leaf), Walk(va, leaf));

        using var second = FreshVm();
        var (va2, _) = MapUser(second, leaf, supervisorAt: inTable ? 1 : 0);
        var supervisor = second.Paged(PagingControls.User | PagingControls.WriteProtect);
        before = second.Walk(va2, leaf);
        AssertFaults(supervisor, supervisor.Run([GuestAccess.Read(va2 + 0x10)]), va2 + 0x10);
        Assert.Equal(before[1..], second.Walk(va2, leaf)[1..]);

        // supervisorAt: which entry, counted up from the leaf, lacks U/S (null: none).
        static (ulong Va, ulong Pa) MapUser(GuestPagingTests t, Leaf leaf, int? supervisorAt)
        {
            const ulong userTable = Table | GuestPteNonLeaf.UserMask;
            t.SystemMapping(Leaf2M | GuestPde2M.UserMask, userTable);
            var (va, pa, leafUser, levels) = leaf switch
            {
                Leaf.Pte4K => (Va4K, Pa4K, GuestPte4K.UserMask, 4),
                Leaf.Pde2M => (Va2M, Pa2M, GuestPde2M.UserMask, 3),
                _ => (Va1G, Pa1G, GuestPdpte1G.UserMask, 2),
            };
            var bits = Enumerable.Repeat(userTable, levels - 1).Append(LeafBits(leaf) | leafUser).ToArray();
            if (supervisorAt is { } up)
            {
                bits[^(up + 1)] &= ~(up == 0 ? leafUser : GuestPteNonLeaf.UserMask);
            }

            t.Tables.Map(va, pa, bits);
            return (va, pa);
        }
    }

    /// <summary>
    /// Without EFER.NXE bit 63 is reserved in every entry (SDM Vol. 3A 4.5.4, Tables 4-15 to 4-20;
    /// mmu.c __reset_rsvds_bits_mask(): high_bits_rsvd |= rsvd_bits(63, 63) when !is_efer_nx(),
    /// checked by FNAME(is_rsvd_bits_set) in the walk), so a load through an XD leaf faults; G and
    /// PAT are never reserved, so the same load through a leaf with them set goes through.
    /// </summary>
    [KvmTheory(Needs = [GuestCpuFeature.LongMode])]
    [InlineData(Leaf.Pte4K)]
    [InlineData(Leaf.Pde2M)]
    [KvmInlineData(Leaf.Pdpte1G, Needs = [GuestCpuFeature.Gbpages])]
    public void Without_EFER_NXE_XD_is_a_reserved_bit_and_G_and_PAT_are_not(Leaf leaf)
    {
        var (globalPat, xd) = leaf switch
        {
            Leaf.Pte4K => (GuestPte4K.GlobalMask | GuestPte4K.PatMask, GuestPte4K.NxMask),
            Leaf.Pde2M => (GuestPde2M.GlobalMask | GuestPde2M.PatMask, GuestPde2M.NxMask),
            _ => (GuestPdpte1G.GlobalMask | GuestPdpte1G.PatMask, GuestPdpte1G.NxMask),
        };
        var (va, pa) = Map(leaf, LeafBits(leaf) | globalPat);
        Poke(pa + 0x10, 0x88);
        Assert.Equal([0x88UL], Done(Paged(PagingControls.None).Run([GuestAccess.Read(va + 0x10)])).Values);

        using var second = FreshVm();
        var (va2, pa2) = second.Map(leaf, LeafBits(leaf) | xd);
        second.Poke(pa2 + 0x10, 0x88);
        var vcpu = second.Paged(PagingControls.None);
        AssertFaults(vcpu, vcpu.Run([GuestAccess.Read(va2 + 0x10)]), va2 + 0x10);
    }

    /// <summary>
    /// With EFER.NXE, XD forbids instruction fetches only (SDM Vol. 3A 4.6.1): a load and a
    /// store through tables and a leaf with XD go through, while XD in the leaf that maps the
    /// code makes the first fetch fault (permission_fault() with PFERR_FETCH_MASK against the
    /// ACC_EXEC_MASK walk_addr_generic builds from the inverted PT64_NX_MASK).
    /// </summary>
    [KvmFact(Needs = [GuestCpuFeature.LongMode, GuestCpuFeature.Nx])]
    public void With_EFER_NXE_XD_stops_instruction_fetches_and_nothing_else()
    {
        const ulong xdTable = Table | GuestPteNonLeaf.NxMask;
        Tables.Map(Va4K, Pa4K, Table, xdTable, xdTable, Leaf4K | GuestPte4K.NxMask);
        var vcpu = Paged(PagingControls.NoExecute | PagingControls.WriteProtect);
        Assert.Equal([3UL, 3], Done(vcpu.Run([GuestAccess.Write(Va4K, 3), GuestAccess.Read(Va4K)])).Values);

        using var second = FreshVm();
        second.SystemMapping(Leaf2M | GuestPde2M.NxMask);
        var fetching = second.Paged(PagingControls.NoExecute);
        AssertFaults(fetching, fetching.Run([GuestAccess.Read(Va4K)]), BatchGuest.CodeGpa);
    }

    /// <summary>A triple fault leaves a VM shut down, so a faulting case after a passing one gets a VM and tables of its own.</summary>
    private static GuestPagingTests FreshVm() => new();

    private static ulong LeafBits(Leaf leaf) => leaf switch
    {
        Leaf.Pte4K => Leaf4K,
        Leaf.Pde2M => Leaf2M,
        _ => Leaf1G,
    };

    /// <summary>The code and mailboxes through one 2M page at their own address, 0xFFE00000.</summary>
    private void SystemMapping(ulong leaf, ulong table = Table)
    {
        const ulong start = BatchGuest.SystemGpa & ~((1UL << 21) - 1);
        Tables.Map(start, start, table, table, leaf);
    }

    private (ulong Va, ulong Pa) Map(Leaf leaf, ulong leafBits) => leaf switch
    {
        Leaf.Pte4K => Map4K(Table, Table, Table, leafBits),
        Leaf.Pde2M => (Va2M, MapAt(Va2M, Pa2M, Table, Table, leafBits)),
        _ => (Va1G, MapAt(Va1G, Pa1G, Table, leafBits)),
    };

    private (ulong Va, ulong Pa) Map4K(ulong pml4e, ulong pdpte, ulong pde, ulong pte) => (Va4K, MapAt(Va4K, Pa4K, pml4e, pdpte, pde, pte));

    private ulong MapAt(ulong va, ulong pa, params ReadOnlySpan<ulong> bits)
    {
        Tables.Map(va, pa, bits);
        return pa;
    }

    private KernelVcpu Paged(PagingControls controls)
    {
        var vcpu = (KernelVcpu)Vcpu();
        Vm.RunTimeout = TimeSpan.FromSeconds(2);
        Assert.Equal(KvmResult.Ok(), vcpu.EnablePaging(Tables.RootGpa, controls));
        return vcpu;
    }

    /// <summary>The entries the walk of <paramref name="va"/> reads, root first, down to <paramref name="leaf"/>.</summary>
    private ulong[] Walk(ulong va, Leaf leaf)
    {
        var leafLevel = leaf switch { Leaf.Pte4K => GuestWalker.PteLevel, Leaf.Pde2M => GuestWalker.PdeLevel, _ => GuestWalker.PdeLevel + 1 };
        return [.. Enumerable.Range(leafLevel, GuestWalker.MinRootLevel - leafLevel + 1).Reverse().Select(level => ((IGuestMemory)Memory).ReadPte(Tables.EntryGpa(va, level)))];
    }

    /// <summary><paramref name="entries"/> with each one's Accessed bit, as its layout names it.</summary>
    private static ulong[] Accessed(ulong[] entries, Leaf leaf)
    {
        var leafAccessed = leaf switch
        {
            Leaf.Pte4K => GuestPte4K.AccessedMask,
            Leaf.Pde2M => GuestPde2M.AccessedMask,
            _ => GuestPdpte1G.AccessedMask,
        };
        return [.. entries.Select((e, i) => e | (i == entries.Length - 1 ? leafAccessed : GuestPteNonLeaf.AccessedMask))];
    }

    private static void AssertFaults(KernelVcpu vcpu, VcpuExit exit, ulong cr2)
    {
        var unexpected = Assert.IsType<VcpuExit.Unexpected>(exit);
        Assert.Equal(ExitShutdown, unexpected.ExitReason);
        Assert.Equal(cr2, vcpu.Cr2);
    }

    private void Poke(ulong gpa, uint value) => Memory.Write32(gpa, value);

    private uint Peek(ulong gpa) => Memory.Read32(gpa);

    /// <summary>Guest-physical memory through the memslots' host mappings, for the tables and the data.</summary>
    private sealed class GuestMemslots(params (ulong Gpa, ulong Hva, ulong Size)[] slots) : IGuestPhysicalMemory
    {
        public bool TryReadPte(ulong gpa, out ulong pte)
        {
            var p = At(gpa, sizeof(ulong));
            pte = p is null ? 0 : *(ulong*)p;
            return p is not null;
        }

        public void WritePte(ulong gpa, ulong pte) => *(ulong*)Must(gpa, sizeof(ulong)) = pte;

        public PteCmpxchgResult CompareExchangePte(ulong gpa, ulong expected, ulong value) =>
            throw new NotSupportedException("the kernel sets A/D here, not the model");

        public void Write32(ulong gpa, uint value) => *(uint*)Must(gpa, sizeof(uint)) = value;

        public uint Read32(ulong gpa) => *(uint*)Must(gpa, sizeof(uint));

        private byte* Must(ulong gpa, int size)
        {
            var p = At(gpa, size);
            return p is not null ? p : throw new ArgumentOutOfRangeException(nameof(gpa), $"no memslot at gpa 0x{gpa:x}");
        }

        private byte* At(ulong gpa, int size)
        {
            foreach (var (start, hva, length) in slots)
            {
                if (gpa >= start && gpa + (ulong)size <= start + length)
                {
                    return (byte*)(hva + (gpa - start));
                }
            }

            return null;
        }
    }
}
