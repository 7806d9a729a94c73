using System.Diagnostics;
using CsCheck;

namespace SpecKit.Explorer;

/// <summary>
/// CsCheck's shrinking, driven deterministically. CsCheck shrinks by regeneration: it keeps
/// generating cases with the smallest failing case's <see cref="Size"/> as the bound (so a
/// generator stops early on anything no smaller) and keeps each smaller case that still fails.
/// Its <c>Sample</c> draws those candidates from <c>PCG.ThreadPCG</c>, seeded by the order in which
/// threads first use it, for a wall-clock time, so the same failure shrinks differently from run to
/// run and under load. Here the candidates come from a PCG stream fixed by the failing case's seed
/// and their number is the budget, so a counterexample is reproducible from its seed alone; the
/// time is only a safety cap, and a shrink that hits it is marked as one that may not repeat.
/// </summary>
public static class Shrinker
{
    /// <summary>
    /// The smallest case (by CsCheck's size) among <paramref name="tries"/> candidates that keeps
    /// <paramref name="stillFails"/>, starting from the case <paramref name="caseSeed"/> generates,
    /// and the seed that regenerates it; Capped when the time cap stopped it before the last try.
    /// </summary>
    public static (string Seed, bool Capped) Shrink<T>(Gen<T> gen, string caseSeed, Func<T, bool> stillFails, int tries, TimeSpan cap)
    {
        gen.Generate(PCG.Parse(caseSeed), null, out var smallest);
        var seed = caseSeed;
        var stream = StableHash(caseSeed);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < tries; i++)
        {
            if (clock.Elapsed >= cap)
            {
                return (seed, true);
            }

            var pcg = new PCG(2, stream ^ (ulong)i * 0x9E3779B97F4A7C15);
            var candidateSeed = pcg.ToString();
            var candidate = gen.Generate(pcg, smallest, out var size);
            if (Size.IsLessThan(size, smallest) && stillFails(candidate))
            {
                (seed, smallest) = (candidateSeed, size);
            }
        }

        return (seed, false);
    }

    /// <summary>FNV-1a over the seed's text: string.GetHashCode is randomized per process.</summary>
    private static ulong StableHash(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var ch in s)
        {
            h = (h ^ ch) * 1099511628211UL;
        }

        return h;
    }
}
