using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Tests.Guest;

/// <summary>The walk itself: translations at every leaf size and root level, the PTE chain, A/D updates and their races, and the error paths.</summary>
public class GuestWalkerTests
{
    private const ulong Rwu = 0x7; // P | R/W | U/S, typed from the SDM.
    private const ulong Accessed = 0x20;
    private const ulong Dirty = 0x40;

    // Supervisor accesses here go to user pages, so SMEP and SMAP stay off (the enumeration covers them).
    private static readonly GuestCpuState Cpu = new() { Cr0Wp = true, EferNx = true };

    private static (SparseGuestMemory Memory, GuestPageTables Tables, GuestMmu Mmu) Tree(int rootLevel = 4, GuestCpuState? cpu = null)
    {
        var memory = new SparseGuestMemory();
        var tables = new GuestPageTables(memory, rootLevel);
        var state = (cpu ?? Cpu) with { Cr4La57 = rootLevel == 5, Cr3 = tables.RootGpa };
        return (memory, tables, new GuestMmu(state));
    }

    [Fact]
    public void A_4K_walk_translates_and_records_the_chain_root_first()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x0000_7f12_3456_7abc;
        tables.Map(addr, 0x8765_4000, Rwu, Rwu, Rwu, Rwu);

        Assert.True(GuestWalker.Walk(memory, mmu, addr, new GuestAccess(user: true, GuestAccessKind.Read), out var walk));
        Assert.Equal((4, 1, 0x8765_4abcUL, 0x87654UL), (walk.MaxLevel, walk.Level, walk.Gpa, walk.Gfn));
        Assert.Equal(tables.RootGpa >> 12, walk.TableGfn(4));
        for (var level = 4; level >= 1; level--)
        {
            var entryGpa = tables.EntryGpa(addr, level);
            Assert.Equal(entryGpa, walk.PteGpa(level));
            Assert.Equal(memory.ReadPte(entryGpa), walk.Pte(level));
            Assert.Equal(entryGpa & ~0xfffUL, walk.TableGfn(level) << 12);
            Assert.Equal((ulong)((addr >> (12 + (9 * (level - 1)))) & 511), (entryGpa & 0xfff) / 8);
        }
    }

    [Theory]
    [InlineData(4, 2, 0x0000_0040_0000_0000UL, 0x0000_0000_0012_3456UL)]
    [InlineData(4, 3, 0x0000_0080_0000_0000UL, 0x0000_0000_3fed_cba8UL)]
    [InlineData(5, 1, 0x0100_0000_0000_0000UL, 0x0000_0000_0000_0fffUL)]
    [InlineData(5, 2, 0x01ff_8000_0000_0000UL, 0x0000_0000_001f_f008UL)]
    [InlineData(5, 3, 0x0080_4000_0000_0000UL, 0x0000_0000_0000_0000UL)]
    public void Huge_and_5_level_leaves_keep_the_address_bits_below_their_size(int rootLevel, int leafLevel, ulong pageBase, ulong offset)
    {
        var (memory, tables, mmu) = Tree(rootLevel);
        var pageSize = 1UL << (12 + (9 * (leafLevel - 1)));
        Assert.True(offset < pageSize);
        const ulong pageGpa = 0x0000_0001_c000_0000;
        var entries = Enumerable.Repeat(Rwu, rootLevel - leafLevel + 1).ToArray();
        tables.Map(pageBase, pageGpa, entries);

        Assert.True(GuestWalker.Walk(memory, mmu, pageBase + offset, PfErr.PFERR_WRITE_MASK, out var walk));
        Assert.Equal((rootLevel, leafLevel), (walk.MaxLevel, walk.Level));
        Assert.Equal(pageGpa + offset, walk.Gpa);
        Assert.Equal((pageGpa + offset) >> 12, walk.Gfn);
        Assert.Equal(leafLevel > 1, (memory.ReadPte(tables.EntryGpa(pageBase, leafLevel)) & 0x80) != 0);
    }

    [Fact]
    public void The_walk_sets_A_on_every_level_and_D_on_the_leaf_for_a_write_once()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x1234_5000;
        tables.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);

        Assert.True(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_WRITE_MASK, out var write));
        Assert.Equal(0b1111, write.AccessedSetLevels);
        Assert.True(write.DirtySet);
        Assert.Equal(4, memory.PteWrites);
        for (var level = 4; level >= 1; level--)
        {
            var pte = memory.ReadPte(tables.EntryGpa(addr, level));
            Assert.Equal(Accessed, pte & Accessed);
            Assert.Equal(level == 1 ? Dirty : 0, pte & Dirty);
            Assert.Equal(pte, write.Pte(level));
        }

        // Warm: everything is set, so a second write (and a read) write nothing.
        Assert.True(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_WRITE_MASK, out var again));
        Assert.True(GuestWalker.Walk(memory, mmu, addr, 0, out var read));
        Assert.Equal((0, false, 0, false), (again.AccessedSetLevels, again.DirtySet, read.AccessedSetLevels, read.DirtySet));
        Assert.Equal(4, memory.PteWrites);
    }

    [Fact]
    public void A_read_sets_A_but_not_D_and_leaves_a_clean_leaf_without_W_in_pte_access()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x4000;
        tables.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);

        Assert.True(GuestWalker.Walk(memory, mmu, addr, 0, out var read));
        Assert.Equal(0UL, memory.ReadPte(tables.EntryGpa(addr, 1)) & Dirty);

        // FNAME(protect_clean_gpte): W stays off until the first write sets D.
        Assert.Equal((uint)(Acc.ACC_USER_MASK | Acc.ACC_EXEC_MASK), read.PteAccess);
        Assert.True(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_WRITE_MASK, out var write));
        Assert.Equal((uint)Acc.ACC_ALL, write.PteAccess);
        Assert.True(GuestWalker.Walk(memory, mmu, addr, 0, out var dirtyRead));
        Assert.Equal((uint)Acc.ACC_ALL, dirtyRead.PteAccess);
    }

    [Fact]
    public void Pt_access_accumulates_the_rights_of_the_levels_above()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x20_0000;
        const ulong nx = 1UL << 63;
        tables.Map(addr, 0x9000, Rwu | Accessed, 0x5 | Accessed, Rwu | Accessed | nx, Rwu | Accessed | Dirty);

        Assert.True(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_USER_MASK, out var walk));
        Assert.Equal((uint)Acc.ACC_ALL, walk.PtAccess(4));
        Assert.Equal((uint)Acc.ACC_ALL, walk.PtAccess(3));
        Assert.Equal((uint)(Acc.ACC_USER_MASK | Acc.ACC_EXEC_MASK), walk.PtAccess(2));
        Assert.Equal((uint)Acc.ACC_USER_MASK, walk.PtAccess(1));
        Assert.Equal((uint)Acc.ACC_USER_MASK, walk.PteAccess);
    }

    [Fact]
    public void A_faulting_walk_sets_no_A_or_D_and_stops_at_the_level_that_faulted()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x7000;
        tables.Map(addr, 0x9000, Rwu, Rwu, 0x5, Rwu);

        Assert.False(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK, out var walk));
        Assert.Equal(PfErr.PFERR_PRESENT_MASK | PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK, walk.ErrorCode);
        Assert.Equal(1, walk.Level);
        Assert.Equal(0, memory.PteWrites);

        tables.Map(addr, 0x9000, Rwu, Rwu, 0x4, Rwu);
        Assert.False(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_USER_MASK, out var notPresent));
        Assert.Equal((PfErr.PFERR_USER_MASK, 2), (notPresent.ErrorCode, notPresent.Level));
        Assert.Equal(0x4UL, notPresent.Pte(2) & 0xfff);
        Assert.Equal(0, memory.PteWrites);
    }

    [Fact]
    public void A_pte_that_changes_under_the_A_D_update_restarts_the_walk()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x5000;
        tables.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);
        var leafGpa = tables.EntryGpa(addr, 1);

        // The guest clears W in the leaf between the walk's read and its compare-exchange:
        // the retried walk sees the read-only leaf and faults.
        var racing = new RacingMemory(memory, leafGpa, pte => pte & ~0x2UL);
        Assert.False(GuestWalker.Walk(racing, mmu, addr, PfErr.PFERR_WRITE_MASK, out var walk));
        Assert.Equal(1, walk.Retries);
        Assert.Equal(PfErr.PFERR_PRESENT_MASK | PfErr.PFERR_WRITE_MASK, walk.ErrorCode);

        // A race that leaves the rights alone: the retry completes and sets D.
        var (memory2, tables2, mmu2) = Tree();
        tables2.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);
        var benign = new RacingMemory(memory2, tables2.EntryGpa(addr, 1), pte => pte | Accessed);
        Assert.True(GuestWalker.Walk(benign, mmu2, addr, PfErr.PFERR_WRITE_MASK, out var retried));
        Assert.Equal(1, retried.Retries);
        Assert.Equal(Accessed | Dirty, memory2.ReadPte(tables2.EntryGpa(addr, 1)) & (Accessed | Dirty));
    }

    [Fact]
    public void Tables_in_read_only_memory_are_walked_but_A_and_D_are_not_written()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x6000;
        tables.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);
        var leafTable = tables.EntryGpa(addr, 1) >> 12;
        memory.SetReadOnly(leafTable);

        Assert.True(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_WRITE_MASK, out var walk));
        Assert.Equal(0b1110, walk.AccessedSetLevels);
        Assert.False(walk.DirtySet);
        Assert.Equal(0UL, memory.ReadPte(tables.EntryGpa(addr, 1)) & (Accessed | Dirty));
    }

    [Fact]
    public void A_table_with_no_memory_behind_it_is_a_not_present_fault()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x8000;
        tables.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);
        memory.Remove(tables.EntryGpa(addr, 2) >> 12);

        Assert.False(GuestWalker.Walk(memory, mmu, addr, PfErr.PFERR_FETCH_MASK | PfErr.PFERR_USER_MASK, out var walk));
        Assert.Equal((PfErr.PFERR_FETCH_MASK | PfErr.PFERR_USER_MASK, 2), (walk.ErrorCode, walk.Level));
    }

    [Fact]
    public void Memory_that_fails_the_A_D_write_fails_the_walk_without_P()
    {
        var (memory, tables, mmu) = Tree();
        const ulong addr = 0x8000;
        tables.Map(addr, 0x9000, Rwu, Rwu, Rwu, Rwu);
        var failing = new RacingMemory(memory, tables.EntryGpa(addr, 1), pte => pte, fail: true);

        Assert.False(GuestWalker.Walk(failing, mmu, addr, PfErr.PFERR_WRITE_MASK, out var walk));
        Assert.Equal(PfErr.PFERR_WRITE_MASK, walk.ErrorCode);
    }

    [Fact]
    public void The_access_must_be_W_U_I_D_and_implicit_only()
    {
        var (memory, _, mmu) = Tree();
        Assert.Throws<ArgumentException>(() => GuestWalker.Walk(memory, mmu, 0, PfErr.PFERR_PRESENT_MASK, out _));
        Assert.Throws<ArgumentException>(() => GuestWalker.Walk(memory, mmu, 0, PfErr.PFERR_WRITE_MASK | PfErr.PFERR_FETCH_MASK, out _));
        Assert.Throws<ArgumentException>(() => new GuestAccess(user: true, GuestAccessKind.Read, isImplicit: true));
    }

    [Fact]
    public void Describe_lists_each_entry_in_its_level_s_layout_then_the_result()
    {
        var (memory, tables, mmu) = Tree();
        tables.Map(0x4000_0000, 0x8000_0000, Rwu, Rwu | Dirty);
        Assert.True(GuestWalker.Walk(memory, mmu, 0x4000_0123, PfErr.PFERR_USER_MASK, out var walk));
        var lines = walk.Describe().TrimEnd('\n').Split('\n');
        Assert.Equal("walk 0x0000000040000123 (user read)", lines[0]);
        Assert.StartsWith("  Pml4e  @ 0x100000: GuestPteNonLeaf(", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("  Pdpte  @ 0x101008: GuestPdpte1G(", lines[2], StringComparison.Ordinal);
        Assert.Equal("  -> gpa 0x80000123 (1G page)", lines[3]);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void The_mmu_keeps_its_tables_when_only_cr3_ac_or_pkru_change()
    {
        var mmu = new GuestMmu(Cpu);
        var moved = mmu.WithCpu(Cpu with { Cr3 = 0x5000, EflagsAc = true, Pkru = 0xc });
        Assert.True(mmu.Permissions == moved.Permissions);
        Assert.Equal(0x5000UL, moved.Cpu.Cr3);
        var noWp = mmu.WithCpu(Cpu with { Cr0Wp = false });
        Assert.False(mmu.Permissions == noWp.Permissions);
        Assert.False(mmu.Permissions.SequenceEqual(noWp.Permissions));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GuestMmu(Cpu with { MaxPhyAddr = 53 }));
    }

    [Fact]
    public void Page_tables_refuse_a_misaligned_page_or_a_leaf_above_1G()
    {
        var tables = new GuestPageTables(new SparseGuestMemory(), 4);
        Assert.Throws<ArgumentException>(() => tables.Map(0, 0x1000, Rwu, Rwu, Rwu));
        Assert.Throws<ArgumentException>(() => tables.Map(0, 0, Rwu));
        Assert.Throws<ArgumentException>(() => tables.Map(0, 0, Rwu, Rwu, Rwu, Rwu, Rwu));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GuestPageTables(new SparseGuestMemory(), 3));
        Assert.Throws<ArgumentException>(() => new SparseGuestMemory().WritePte(0x1004, 1));
    }

    [Fact]
    public void The_oracle_reports_the_A_and_D_bits_the_walk_set_level_by_level()
    {
        var cpu = new GuestCpuState { Cr0Wp = true };
        var write = PermissionOracle.Evaluate(cpu, new GuestAccess(user: false, GuestAccessKind.Write), Rwu | Accessed, Rwu | Accessed, Rwu, Rwu);
        Assert.Equal(("ok", "A(Pde,Pte) D"), (write.DescribeOutcome(), write.DescribeAccessedDirty()));
        Assert.Equal([2, 1], write.AccessedSet);
        Assert.Equal(Accessed | Dirty, write.SetBits(1));
        Assert.Equal(PermissionOracle.PageGpa | (PermissionOracle.Addr & 0xfff), write.Gpa);

        var readOnly = PermissionOracle.Evaluate(cpu, new GuestAccess(user: true, GuestAccessKind.Write), Rwu, Rwu, 0x5);
        Assert.Equal(("#PF P|W|U", "-", 2), (readOnly.DescribeOutcome(), readOnly.DescribeAccessedDirty(), readOnly.Level));
        Assert.Equal("A", PermissionOracle.Evaluate(cpu with { Cr4La57 = true }, new GuestAccess(user: true, GuestAccessKind.Fetch), Rwu, Rwu, Rwu).DescribeAccessedDirty());
    }

    /// <summary>Memory whose PTE at one address is rewritten (or fails) the first time the walker compare-exchanges it.</summary>
    private sealed class RacingMemory(SparseGuestMemory inner, ulong gpa, Func<ulong, ulong> change, bool fail = false) : IGuestMemory
    {
        private bool _raced;

        public bool TryReadPte(ulong address, out ulong pte) => inner.TryReadPte(address, out pte);

        public PteCmpxchgResult CompareExchangePte(ulong address, ulong expected, ulong value)
        {
            if (address == gpa && !_raced)
            {
                _raced = true;
                if (fail)
                {
                    return PteCmpxchgResult.Fault;
                }

                inner.WritePte(address, change(inner.ReadPte(address)));
            }

            return inner.CompareExchangePte(address, expected, value);
        }
    }
}
