using BenchmarkDotNet.Attributes;
using SpecKit.Mmu;
using SpecKit.Mmu.PageTables;

namespace SpecKit.Bench;

/// <summary>
/// The generated TdpIter over a fully populated 1 GiB (262,144 4 KiB leaves under one PDPTE)
/// against a plain loop over the same 512 leaf tables. Target: the iterator within 3x.
/// </summary>
[SimpleJob(warmupCount: 3, iterationCount: 15)]
public class TdpIterBench
{
    private const ulong Pages = 1UL << 18;
    private readonly PageTableStore _tables = new();
    private ulong _root;
    private ulong[][] _leafTables = [];

    [GlobalSetup]
    public void Setup()
    {
        var nonPresent = SpteValues.SHADOW_NONPRESENT_VALUE;
        var table = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithWritable(true).WithExecutable(true);
        _root = _tables.Alloc(nonPresent);
        var pdpt = _tables.Alloc(nonPresent);
        var pd = _tables.Alloc(nonPresent);
        _tables[_root][0] = table.WithPfn(pdpt).Raw;
        _tables[pdpt][0] = table.WithPfn(pd).Raw;
        _leafTables = new ulong[512][];
        for (var i = 0; i < 512; i++)
        {
            var pt = _tables.Alloc(nonPresent);
            _tables[pd][i] = table.WithPfn(pt).Raw;
            _leafTables[i] = _tables[pt];
            for (var j = 0; j < 512; j++)
            {
                _leafTables[i][j] = new EptSpte(0).WithMmuPresent(true).WithReadable(true).WithWritable(true).WithPfn(0x100000 + (ulong)((i * 512) + j)).Raw;
            }
        }
    }

    [Benchmark(Baseline = true, Description = "plain loop over the leaf tables")]
    public ulong PlainLoop()
    {
        ulong sum = 0;
        foreach (var leaves in _leafTables)
        {
            foreach (var spte in leaves)
            {
                if ((spte & TdpWalker.PresentMask) != 0)
                {
                    sum += spte;
                }
            }
        }

        return sum;
    }

    [Benchmark(Description = "TdpIter over [0, 1 GiB)")]
    public ulong TdpIterWalk()
    {
        ulong sum = 0;
        for (var iter = TdpIter.Start(_tables, _root, 4, 1, 0); iter.Valid && iter.Gfn < Pages; iter.Next())
        {
            if (iter.Level == 1 && iter.IsPresent)
            {
                sum += iter.OldSpte;
            }
        }

        return sum;
    }
}
