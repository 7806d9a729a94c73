using System.Text;
using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.PageTables;

namespace SpecKit.Behaviour.Steps;

/// <summary>A hand-built TDP paging structure and walks over it with the generated TdpIter.</summary>
[Binding]
public sealed class TdpIterSteps(ScenarioContext context)
{
    private readonly PageTableStore _tables = new();
    private readonly StringBuilder _walk = new();
    private readonly List<ulong> _yields = [];
    private readonly List<ulong> _processed = [];
    private readonly List<(int Level, ulong Gfn)> _visits = [];
    private (int Level, ulong First, ulong Last, int Count)? _run;
    private ulong _root;
    private int _rootLevel;

    [Given("a {int}-level TDP root")]
    public void ARoot(int levels)
    {
        _rootLevel = levels;
        _root = _tables.Alloc(SpteValues.SHADOW_NONPRESENT_VALUE);
    }

    [Given("these mappings:")]
    public void TheseMappings(DataTable table)
    {
        foreach (var row in table.AsDictionaries())
        {
            Map(ParameterTypes.Gfn(row["gfn"]), ParameterTypes.Level(row["level"]), ParameterTypes.Pfn(row["pfn"]));
        }
    }

    [When("the iterator walks gfns [{gfn}, {gfn}) down to level {level}")]
    public void Walk(ulong start, ulong end, int minLevel) => Walk(start, end, minLevel, _ => false);

    [When("the iterator walks gfns [{gfn}, {gfn}) down to level {level}, yielding at gfn {gfn}")]
    public void WalkYieldingAt(ulong start, ulong end, int minLevel, ulong yieldGfn) =>
        Walk(start, end, minLevel, iter => iter.Gfn == yieldGfn && iter.Level == minLevel);

    [When("the iterator walks gfns [{gfn}, {gfn}) down to level {level}, trying to yield at every entry")]
    public void WalkYieldingEverywhere(ulong start, ulong end, int minLevel) => Walk(start, end, minLevel, _ => true);

    [Then("the walk matches the snapshot")]
    public void MatchesSnapshot() => context.Verify(_walk.ToString());

    /// <summary>Snapshot lines: one per entry, except that a run of non-present entries is one line.</summary>
    private void Record(TdpIter iter, string? yield)
    {
        var indent = new string(' ', 2 * (_rootLevel - iter.Level));
        var name = TdpWalker.LevelName(iter.Level);
        if (!iter.IsPresent && yield is null)
        {
            if (_run is { } run && run.Level == iter.Level && run.Last + TdpWalker.PagesPerHpage(iter.Level) == iter.Gfn)
            {
                _run = (run.Level, run.First, iter.Gfn, run.Count + 1);
                return;
            }

            FlushRun();
            _run = (iter.Level, iter.Gfn, iter.Gfn, 1);
            return;
        }

        FlushRun();
        _walk.Append(indent).Append(name).Append(" gfn ").Append(SpteSteps.Hex(iter.Gfn))
            .Append(iter.IsPresent ? iter.IsLast ? $" -> pfn {SpteSteps.Hex(TdpWalker.SpteToPfn(iter.OldSpte))}" : " -> table" : " (not present)");
        if (yield is not null)
        {
            _walk.Append("  [").Append(yield).Append(']');
        }

        _walk.Append('\n');
    }

    private void FlushRun()
    {
        if (_run is not { } run)
        {
            return;
        }

        _walk.Append(' ', 2 * (_rootLevel - run.Level)).Append(TdpWalker.LevelName(run.Level)).Append(" gfn ").Append(SpteSteps.Hex(run.First));
        if (run.Count > 1)
        {
            _walk.Append("..").Append(SpteSteps.Hex(run.Last)).Append($" ({run.Count} entries)");
        }

        _walk.Append(" (not present)\n");
        _run = null;
    }

    [Then("the walk visits {int} entries, the first at level {level} gfn {gfn}")]
    public void VisitsEntries(int count, int level, ulong gfn)
    {
        Assert.Equal(count, _visits.Count);
        Assert.Equal((level, gfn), _visits[0]);
    }

    [Then("no two yields happened at the same gfn")]
    public void NoTwoYieldsAtOneGfn()
    {
        Assert.NotEmpty(_yields);
        Assert.Equal(_yields.Distinct().Count(), _yields.Count);
    }

    [Then("every present leaf was processed exactly once")]
    public void EveryLeafOnce() => Assert.Equal(_processed.Distinct().Order().ToList(), _processed);

    [Then("the leaves processed were {}")]
    public void LeavesProcessed(string list) =>
        Assert.Equal(list.Split(", ").Select(ParameterTypes.Gfn).ToList(), _processed);

    /// <summary>The kernel's loop shape: try to yield first, and on a yield 'continue' without processing the entry.</summary>
    private void Walk(ulong start, ulong end, int minLevel, Func<TdpIter, bool> wantsYield)
    {
        for (var iter = TdpIter.Start(_tables, _root, _rootLevel, minLevel, start); iter.Valid && iter.Gfn < end; iter.Next())
        {
            _visits.Add((iter.Level, iter.Gfn));
            if (wantsYield(iter) && iter.CanYield)
            {
                _yields.Add(iter.NextLastLevelGfn);
                Record(iter, "yield: restart from the root towards " + SpteSteps.Hex(iter.NextLastLevelGfn));
                iter.Yield();
                continue;
            }

            Record(iter, null);
            if (iter.IsPresent && iter.IsLast)
            {
                _processed.Add(iter.Gfn);
            }
        }

        FlushRun();
    }

    private void Map(ulong gfn, int level, ulong pfn)
    {
        var table = _tables[_root];
        var nonLeaf = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithWritable(true).WithExecutable(true);
        for (var l = _rootLevel; l > level; l--)
        {
            ref var spte = ref table[TdpWalker.SpteIndex(gfn, l)];
            if (!TdpWalker.IsShadowPresent(spte))
            {
                spte = nonLeaf.WithPfn(_tables.Alloc(SpteValues.SHADOW_NONPRESENT_VALUE)).Raw;
            }

            Assert.False(TdpWalker.IsLastSpte(spte, l), $"gfn {SpteSteps.Hex(gfn)} lies under a huge page at level {l}");
            table = _tables[TdpWalker.SpteToPfn(spte)];
        }

        table[TdpWalker.SpteIndex(gfn, level)] = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithPageSize(level > 1).WithPfn(pfn).Raw;
    }
}
