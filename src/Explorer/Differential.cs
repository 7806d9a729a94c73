using System.Diagnostics;
using CsCheck;
using SpecKit.Mmu;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;

namespace SpecKit.Explorer;

/// <summary>What one step looked like under one model: its step, what userspace saw, the SPTEs after it, and whether the checker or the model objected.</summary>
public sealed record Observed(Step Step, string Sptes, string? Failure);

/// <summary>The first step where two models differ, and what each observed there.</summary>
public sealed record Difference(int Step, Observed? Base, Observed? Variant, string Feature);

/// <summary>
/// Two models run the same case and are compared step by step: the step (an errno changes it),
/// what userspace observed (a bitmap, a load, an exit, test_young), the SPTEs after it (by root,
/// gfn, level and flags, read through each model's own format, so a moved software bit is no
/// difference), and the checker. Models that are correct but different (the TDX designs of
/// kvm_tdp_mmu_unmap_gfn_range) are told apart here; the first differing step is printed.
/// </summary>
public static class Differential
{
    public static List<Observed> Observe(Case c, SpecModelInfo model)
    {
        var observed = new List<Observed>();
        var run = Runner.Run(c, model, (m, step) => observed.Add(new Observed(step, Sptes(m), null)));
        if (run.Failure is { } failure)
        {
            var at = Math.Clamp(failure.Step, 0, observed.Count);
            if (at < observed.Count)
            {
                observed[at] = observed[at] with { Failure = failure.ToString() };
            }
            else
            {
                observed.Add(new Observed(new Step("Then", "the checker reports nothing", ""), "", failure.ToString()));
            }
        }

        return observed;
    }

    /// <summary>The first step where <paramref name="variant"/> differs from <paramref name="base"/> on <paramref name="c"/>, or -1.</summary>
    public static int FirstDifference(List<Observed> @base, List<Observed> variant)
    {
        for (var i = 0; i < Math.Max(@base.Count, variant.Count); i++)
        {
            if (i >= @base.Count || i >= variant.Count || !Same(@base[i], variant[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool Same(Observed a, Observed b) =>
        Comparable(a.Step) == Comparable(b.Step) && a.Step.Observation == b.Step.Observation && a.Sptes == b.Sptes && a.Failure == b.Failure;

    // A race's step names the schedule it took, whose length is the model's own (ChangePteDead's
    // KSM merge takes .change_pte()'s lock inside its invalidation): what the two races did is
    // compared by what they left, the observation and the SPTEs.
    private static string Comparable(Step step) =>
        step.ToString() is var text && text.IndexOf(", in the schedule ", StringComparison.Ordinal) is >= 0 and var at ? text[..at] : text;

    /// <summary>
    /// Explores <paramref name="kind"/> until the two models differ (or the budget ends), shrinks
    /// the case with CsCheck keeping a difference, and prints it as a feature under the variant
    /// whose last step asserts what the base model observed.
    /// </summary>
    public static (ExploreProgress Figures, Difference? Found) Explore(VmKind kind, SpecModelInfo @base, SpecModelInfo variant, ulong seed, long sequences, TimeSpan? time, int shrinkTries = 500, int maxSteps = 50)
    {
        var gen = OperationGen.Cases(kind, maxSteps);
        var clock = Stopwatch.StartNew();
        long steps = 0;
        for (long k = 0; k < sequences && !(time is { } t && clock.Elapsed >= t); k++)
        {
            var (c, caseSeed) = Explorer.Generate(gen, seed, k);
            var a = Observe(c, @base);
            var b = Observe(c, variant);
            steps += a.Count + b.Count;
            if (FirstDifference(a, b) < 0)
            {
                continue;
            }

            var (shrunkSeed, _) = Shrinker.Shrink(gen, caseSeed, x => FirstDifference(Observe(x, @base), Observe(x, variant)) >= 0, shrinkTries, TimeSpan.FromSeconds(30));
            var shrunk = Explorer.Regenerate(gen, shrunkSeed);
            var (sa, sb) = (Observe(shrunk, @base), Observe(shrunk, variant));
            var at = FirstDifference(sa, sb);

            var feature = Print(shrunk, shrunkSeed, @base, variant, sa, sb, at);
            return (new ExploreProgress(k + 1, steps, clock.Elapsed, 1), new Difference(at, at < sa.Count ? sa[at] : null, at < sb.Count ? sb[at] : null, feature));
        }

        return (new ExploreProgress(sequences, steps, clock.Elapsed, 0), null);
    }

    /// <summary>The variant's steps up to the first difference, then a Then step asserting the base's observation where the vocabulary has one.</summary>
    public static string Print(Case c, string caseSeed, SpecModelInfo @base, SpecModelInfo variant, List<Observed> a, List<Observed> b, int at)
    {
        var machine = new Machine(c.Setup, variant);
        var given = c.Setup.Apply(machine, Runner.ModelName(variant));
        var lines = FeaturePrinter.Lines(given, b.Take(at + 1).Where(o => o.Step.Text != "the checker reports nothing" || o.Failure is null).Select(o => o.Step));
        var (ba, bb) = (at < a.Count ? a[at] : null, at < b.Count ? b[at] : null);
        var kind = c.Setup.Kind == VmKind.Tdx ? "TDX" : c.Setup.Kind.StepWord();
        var header = new List<string>
        {
            $"Found by the SpecKit explorer: the {variant.Name} model differs from the {@base.Name} model on {kind} at step {at + 1} ({ba?.Step ?? bb?.Step}).",
            $"Case seed {caseSeed}.",
            $"{@base.Name}: {Describe(ba)}",
            $"{variant.Name}: {Describe(bb)}",
        };
        if (ba is not null && bb is not null && Expectation(ba, bb) is { } expect)
        {
            lines.Add(("Then", expect));
        }
        else
        {
            lines.Add(("# ", $"no step of docs/steps.md asserts this difference; see the header"));
        }

        return FeaturePrinter.Render(header, $"Explorer difference: {variant.Name} against {@base.Name} on {kind}", $"{variant.Name} differs from {@base.Name} (case {caseSeed})", lines);
    }

    private static string Describe(Observed? o) =>
        o is null ? "(the run had ended)" : $"observed '{o.Step.Observation}'{(o.Failure is null ? "" : $", {o.Failure}")}; SPTEs {o.Sptes}";

    /// <summary>A Then step that holds for the base's observation and fails for the variant's.</summary>
    private static string? Expectation(Observed a, Observed b)
    {
        if (a.Step.Observation != b.Step.Observation && a.Step.Expect is { } expect)
        {
            return expect(a.Step.Observation);
        }

        if (a.Sptes == b.Sptes)
        {
            return null;
        }

        var (sa, sb) = (Entries(a.Sptes), Entries(b.Sptes));
        var first = sa.Keys.Union(sb.Keys).Order().First(k => sa.GetValueOrDefault(k) != sb.GetValueOrDefault(k));
        var (root, gfn) = first;
        var gfnText = VmSetup.Hex(gfn);
        if (root == "direct")
        {
            return sa.ContainsKey(first) ? $"shared gfn {gfnText} has an SPTE" : $"shared gfn {gfnText} has no SPTE";
        }

        if (!sa.Keys.Any(k => k.Gfn == gfn))
        {
            return $"gfn {gfnText} has no SPTE";
        }

        // "L1 WMHADX[ access-tracked]": one leaf under the only root reads as the step's flags.
        return root == "root" && sa[first].Trim() is var leaf && !leaf.Contains('|') && leaf.IndexOf(' ') is > 0 and var space
            ? $"the SPTE for gfn {gfnText} reads {leaf[(space + 1)..]}"
            : null;
    }

    private static Dictionary<(string Root, ulong Gfn), string> Entries(string sptes) =>
        sptes.Length == 0 ? [] : sptes.Split("; ").Select(e => e.Split(':', 2)).GroupBy(p => (p[0].Split(' ')[0], System.Convert.ToUInt64(p[0].Split(' ')[1], 16)))
            .ToDictionary(g => g.Key, g => string.Join(" | ", g.Select(p => p[1])));

    /// <summary>
    /// The SPTEs as "root gfn: level flags" entries, by root under TDP (the mirror root, the
    /// direct root of a TDX VM, or the only root) and flags through the model's own masks.
    /// </summary>
    public static string Sptes(Machine m)
    {
        var masks = m.Kvm.Mmu.Masks;
        if (m.Kvm.Tdp is not { } tdp)
        {
            return string.Join("; ", m.Kvm.Mmu.Leaves().OrderBy(l => l.Gfn).ThenBy(l => l.Level).Select(l => $"root {l.Gfn:x}: L{l.Level} {masks.Describe(l.Spte)}"));
        }

        var entries = new List<string>();
        foreach (var root in tdp.Roots.Where(r => !r.Invalid))
        {
            var name = root.IsMirror ? "mirror" : m.Kvm.IsMirrored ? "direct" : "root";
            Scan(tdp, root.TablePfn, TdpMmu.RootLevel, 0, root.GfnBits, (gfn, level, spte) => entries.Add($"{name} {gfn:x}: L{level} {masks.Describe(spte)}"));
        }

        return string.Join("; ", entries);
    }

    private static void Scan(TdpMmu tdp, ulong tablePfn, int level, ulong baseGfn, ulong gfnBits, Action<ulong, int, ulong> leaf)
    {
        var table = tdp.Tables[tablePfn];
        for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
        {
            var spte = table[i];
            if (!SpteMasks.IsShadowPresent(spte))
            {
                continue;
            }

            var gfn = baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level));
            if (TdpWalker.IsLastSpte(spte, level))
            {
                leaf(gfn & ~gfnBits, level, spte);
            }
            else
            {
                Scan(tdp, TdpWalker.SpteToPfn(spte), level - 1, gfn, gfnBits, leaf);
            }
        }
    }
}
