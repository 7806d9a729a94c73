using SpecKit.Mmu;
using SpecKit.Mmu.PageTables;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The generated <see cref="TdpIter"/> against a brute-force pre-order enumeration of random
/// sparse trees, with yields at random points (tdp_iter.c, tdp_mmu.c tdp_mmu_iter_cond_resched()).
/// </summary>
[Trait("Category", "behaviour")]
public class TdpIterTests
{
    private const ulong NonPresent = SpteValues.SHADOW_NONPRESENT_VALUE;

    private sealed record Entry(int Level, ulong Gfn, ulong Spte);

    private sealed class Tree
    {
        public readonly PageTableStore Tables = new();
        public readonly ulong Root;
        public readonly int RootLevel;

        public Tree(int rootLevel)
        {
            RootLevel = rootLevel;
            Root = Tables.Alloc(NonPresent);
        }

        /// <summary>Maps <paramref name="gfn"/> with a leaf at <paramref name="level"/>, building tables on the way; false if a huge leaf is in the way.</summary>
        public bool Map(ulong gfn, int level, ulong pfn)
        {
            var table = Tables[Root];
            for (var l = RootLevel; l > level; l--)
            {
                ref var spte = ref table[TdpWalker.SpteIndex(gfn, l)];
                if (!TdpWalker.IsShadowPresent(spte))
                {
                    var child = Tables.Alloc(NonPresent);
                    spte = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithWritable(true).WithExecutable(true).WithPfn(child).Raw;
                }
                else if (TdpWalker.IsLastSpte(spte, l))
                {
                    return false;
                }

                table = Tables[TdpWalker.SpteToPfn(spte)];
            }

            ref var leaf = ref table[TdpWalker.SpteIndex(gfn, level)];
            if (TdpWalker.IsShadowPresent(leaf))
            {
                return false;
            }

            leaf = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithPageSize(level > 1).WithPfn(pfn).Raw;
            return true;
        }

        /// <summary>Every entry at level ≥ minLevel, in pre-order, descending only into present non-leaf entries.</summary>
        public List<Entry> PreOrder(int minLevel)
        {
            var all = new List<Entry>();
            Visit(Tables[Root], RootLevel, 0);
            return all;

            void Visit(ulong[] table, int level, ulong baseGfn)
            {
                for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
                {
                    var gfn = baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level));
                    var spte = table[i];
                    all.Add(new Entry(level, gfn, spte));
                    if (level > minLevel && TdpWalker.IsShadowPresent(spte) && !TdpWalker.IsLastSpte(spte, level))
                    {
                        Visit(Tables[TdpWalker.SpteToPfn(spte)], level - 1, gfn);
                    }
                }
            }
        }
    }

    /// <summary>
    /// What a walk from <paramref name="start"/> must visit, brute force: the entries on the path to
    /// <paramref name="start"/> that begin below it, then every entry from <paramref name="start"/> on,
    /// in pre-order (whose GFNs never decrease), until the end of the range.
    /// </summary>
    private sealed class Expected
    {
        private readonly List<Entry> _preOrder;
        private readonly ulong _end;
        private readonly List<Entry> _path;
        private int _pathPos;
        private int _next;

        public Expected(Tree tree, List<Entry> preOrder, int minLevel, ulong start, ulong end)
        {
            _preOrder = preOrder;
            _end = end;
            _path = [];
            var table = tree.Tables[tree.Root];
            for (var level = tree.RootLevel; level >= minLevel; level--)
            {
                var spte = table[TdpWalker.SpteIndex(start, level)];
                var gfn = TdpWalker.GfnRoundForLevel(start, level);
                if (gfn < start)
                {
                    _path.Add(new Entry(level, gfn, spte));
                }

                if (!TdpWalker.IsShadowPresent(spte) || TdpWalker.IsLastSpte(spte, level))
                {
                    break;
                }

                table = tree.Tables[TdpWalker.SpteToPfn(spte)];
            }

            // Binary search for the first entry at or after start.
            int lo = 0, hi = preOrder.Count;
            while (lo < hi)
            {
                var mid = (lo + hi) / 2;
                if (preOrder[mid].Gfn < start)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            _next = lo;
        }

        public Entry? Take()
        {
            if (_pathPos < _path.Count)
            {
                return _path[_pathPos++];
            }

            return _next < _preOrder.Count && _preOrder[_next].Gfn < _end ? _preOrder[_next++] : null;
        }
    }

    private static Tree RandomTree(Random rng, int rootLevel, ulong span)
    {
        var tree = new Tree(rootLevel);
        var count = rng.Next(1, 300);
        for (var i = 0; i < count; i++)
        {
            var level = rng.Next(10) switch { < 7 => 1, < 9 => 2, _ => 3 };
            var gfn = TdpWalker.GfnRoundForLevel((ulong)rng.NextInt64((long)span), level);
            tree.Map(gfn, level, 0x1000 + (ulong)i);
        }

        return tree;
    }

    public static TheoryData<int> Seeds() => new(Enumerable.Range(1, 200));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Walk_with_random_yields_matches_brute_force(int seed)
    {
        var rng = new Random(seed);
        var rootLevel = seed % 5 == 0 ? 5 : 4;
        var minLevel = rng.Next(5) == 0 ? rng.Next(1, 4) : 1;

        // Clustered spans keep the trees small but cross table boundaries at every level.
        var span = rng.Next(3) switch { 0 => 1UL << 12, 1 => 1UL << 21, _ => 1UL << 30 };
        var tree = RandomTree(rng, rootLevel, span);
        var start = (ulong)rng.NextInt64((long)span);
        var end = rng.Next(4) == 0 ? TdpWalker.MaxGfnExclusive(rootLevel) : start + (ulong)rng.NextInt64(1, (long)span);
        var yieldChance = rng.Next(3) switch { 0 => 0.0, 1 => 0.05, _ => 0.3 };

        var preOrder = tree.PreOrder(minLevel);
        var expectedLeaves = new List<Entry>();
        for (var all = new Expected(tree, preOrder, minLevel, start, end); all.Take() is { } e;)
        {
            if (TdpWalker.IsShadowPresent(e.Spte) && TdpWalker.IsLastSpte(e.Spte, e.Level))
            {
                expectedLeaves.Add(e);
            }
        }

        var expected = new Expected(tree, preOrder, minLevel, start, end);
        var processedLeaves = new List<Entry>();
        var yieldPoints = new List<ulong>();
        var steps = 0;
        var walkStart = start;

        for (var iter = TdpIter.Start(tree.Tables, tree.Root, rootLevel, minLevel, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            Assert.True(++steps < 2_000_000, "the walk does not terminate");
            var want = expected.Take();
            Assert.True(want is not null, $"seed {seed}: the walk visited L{iter.Level} gfn 0x{iter.Gfn:x} after the expected end");
            Assert.True(want.Level == iter.Level && want.Gfn == iter.Gfn && want.Spte == iter.OldSpte, $"seed {seed}: visited L{iter.Level} gfn 0x{iter.Gfn:x}, expected L{want.Level} gfn 0x{want.Gfn:x}");

            // next_last_level_gfn is where a restart heads: where this walk started, or the last entry stepped to sideways.
            Assert.Equal(Math.Max(walkStart, iter.Gfn), iter.NextLastLevelGfn);

            if (rng.NextDouble() < yieldChance && iter.CanYield)
            {
                yieldPoints.Add(iter.NextLastLevelGfn);
                iter.Yield();

                // The restart walks from the root towards NextLastLevelGfn again.
                walkStart = Math.Max(walkStart, iter.Gfn);
                expected = new Expected(tree, preOrder, minLevel, walkStart, end);
                continue;
            }

            if (iter.IsPresent && iter.IsLast)
            {
                processedLeaves.Add(new Entry(iter.Level, iter.Gfn, iter.OldSpte));
            }
        }

        Assert.Null(expected.Take());
        Assert.Equal(expectedLeaves, processedLeaves);

        // Forward progress: never two yields at the same GFN.
        Assert.Equal(yieldPoints.Distinct().Count(), yieldPoints.Count);
        Assert.True(yieldPoints.SequenceEqual(yieldPoints.Order()), "yield points must advance");
    }

    [Fact]
    public void After_a_restart_the_iterator_refuses_to_yield_until_it_steps_sideways()
    {
        var tree = new Tree(4);
        tree.Map(0, 1, 0x10);
        tree.Map(1, 1, 0x11);
        var iter = TdpIter.Start(tree.Tables, tree.Root, 4, 1, 0);
        Assert.False(iter.CanYield);
        Assert.Throws<KvmWarnException>(() => iter.Yield());

        while (iter.Level != 1)
        {
            iter.Next();
        }

        iter.Next(); // step side to gfn 1
        Assert.True(iter.CanYield);
        iter.Yield();
        Assert.Throws<KvmWarnException>(() => iter.Yield());
        iter.Next();
        Assert.Equal((4, 0UL, false), (iter.Level, iter.Gfn, iter.Yielded));
        Assert.False(iter.CanYield);
    }

    [Fact]
    public void Gfn_bits_index_the_tables_but_are_not_part_of_the_reported_gfn()
    {
        // TDX: a mirrored VM's direct root is walked with the shared bit (GPA bit 47, GFN bit 35).
        const ulong sharedBit = 1UL << 35;
        var tree = new Tree(4);
        tree.Map(sharedBit | 0x1234, 1, 0x99);
        var found = new List<ulong>();
        for (var iter = TdpIter.Start(tree.Tables, tree.Root, 4, 1, 0, sharedBit); iter.Valid && iter.Gfn < sharedBit; iter.Next())
        {
            if (iter.IsPresent && iter.IsLast)
            {
                found.Add(iter.Gfn);
            }
        }

        Assert.Equal([0x1234UL], found);
        Assert.Throws<KvmWarnException>(() => TdpIter.Start(tree.Tables, tree.Root, 4, 1, sharedBit, sharedBit));
    }

    [Fact]
    public void A_walk_over_a_freed_table_is_a_use_after_free()
    {
        var tree = new Tree(4);
        tree.Map(0, 1, 0x10);
        var pml4e = tree.Tables[tree.Root][0];
        tree.Tables.Free(TdpWalker.SpteToPfn(pml4e));
        var iter = TdpIter.Start(tree.Tables, tree.Root, 4, 1, 0);
        Assert.Throws<KvmWarnException>(() => iter.Next());
    }
}
