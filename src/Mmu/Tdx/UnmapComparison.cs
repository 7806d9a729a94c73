using System.Globalization;
using System.Text;
using SpecKit.Mmu.Policy;

namespace SpecKit.Mmu.Tdx;

/// <summary>
/// One caller's unmap under one model: the range the model's callers build and what the
/// model's kvm_tdp_mmu_unmap_gfn_range() makes of it. The design comes from the model's spec
/// (Operation UnmapGfnRange), never from the caller of this API.
/// </summary>
/// <param name="Decision">Null when the caller never reaches kvm_tdp_mmu_unmap_gfn_range() (<see cref="CallerRange.Source"/> says why).</param>
public sealed record UnmapOutcome(string Model, bool MirroredVm, UnmapCaller Caller, MemoryAttribute? Attribute, CallerRange Range, UnmapDecision? Decision)
{
    public const string NotReached = "not reached";

    public static UnmapOutcome Run(MmuRules rules, bool mirroredVm, UnmapCaller caller, MemoryAttribute? attribute)
    {
        var design = UnmapDesign.For(rules);
        var range = design.CallerRange(mirroredVm, caller, attribute);
        return new UnmapOutcome(rules.Model, mirroredVm, caller, attribute, range, range.Range is { } r ? design.UnmapRootTypes(mirroredVm, r) : null);
    }

    /// <summary>The root kinds zapped, "DIRECT, MIRROR, INVALID", or <see cref="NotReached"/>.</summary>
    public string Zaps => Decision is null ? NotReached : TdpMmuRoots.Format(Decision.Zaps);

    /// <summary>Which of the VM's roots (one valid and one invalid of each kind it can have) lose their leaves.</summary>
    public IReadOnlyList<TdpRootRole> RootsWalked =>
        Decision is null ? [] : TdpRootRole.OneOfEach(MirroredVm).Where(Decision.ZapsRoot).ToList();
}

/// <summary>One row of the comparison: a VM kind, a caller and its attribute, and each model's outcome.</summary>
public sealed record UnmapComparisonRow(bool MirroredVm, UnmapCaller Caller, MemoryAttribute? Attribute, IReadOnlyList<UnmapOutcome> Outcomes)
{
    public bool Agree => Outcomes.All(o => o.Zaps == Outcomes[0].Zaps);

    /// <summary>The models whose answer differs from the first model's (the merged kernel's, listed first).</summary>
    public IReadOnlyList<string> DifferFromFirst => Outcomes.Skip(1).Where(o => o.Zaps != Outcomes[0].Zaps).Select(o => o.Model).ToList();
}

/// <summary>
/// Every unmap the seed's logic distinguishes (<see cref="UnmapCallers.EveryRequest"/>) run
/// under several models, rendered as the table a reviewer compares the designs by, and as the
/// values behind each answer.
/// </summary>
public sealed class UnmapComparison
{
    private UnmapComparison(IReadOnlyList<MmuRules> models, IReadOnlyList<UnmapComparisonRow> rows)
    {
        Models = models;
        Rows = rows;
    }

    public IReadOnlyList<MmuRules> Models { get; }

    public IReadOnlyList<UnmapComparisonRow> Rows { get; }

    public static UnmapComparison Of(IReadOnlyList<MmuRules> models) =>
        new(models, UnmapCallers.EveryRequest()
            .Select(r => new UnmapComparisonRow(r.MirroredVm, r.Caller, r.Attribute, models.Select(m => UnmapOutcome.Run(m, r.MirroredVm, r.Caller, r.Attribute)).ToList()))
            .ToList());

    /// <summary>The table: one row per unmap, one column per model, and whether they agree.</summary>
    public string RenderTable()
    {
        var text = new StringBuilder();
        text.Append("kvm_tdp_mmu_unmap_gfn_range(): the roots each model zaps\n\n");
        foreach (var rules in Models)
        {
            var policy = rules.UnmapGfnRange;
            text.Append(CultureInfo.InvariantCulture, $"  {rules.Model}: RootFilter {policy.Roots!.Filter}, {policy.Title}\n");
        }

        text.Append('\n');
        var header = new List<string> { "VM", "caller", "attribute" };
        header.AddRange(Models.Select(m => m.Model));
        header.Add("agree?");
        var cells = Rows.Select(row =>
        {
            var line = new List<string> { UnmapCallers.DescribeVm(row.MirroredVm), UnmapCallers.Describe(row.Caller), UnmapCallers.Describe(row.Attribute) };
            line.AddRange(row.Outcomes.Select(o => o.Zaps));
            line.Add(row.Agree ? "agree" : "differ: " + string.Join(", ", row.DifferFromFirst));
            return line;
        }).ToList();

        var widths = header.Select((h, i) => cells.Select(c => c[i].Length).Append(h.Length).Max()).ToList();
        AppendRow(text, header, widths);
        AppendRow(text, widths.Select(w => new string('-', w)).ToList(), widths);
        foreach (var line in cells)
        {
            AppendRow(text, line, widths);
        }

        text.Append('\n');
        text.Append("DIRECT, MIRROR, INVALID: KVM_DIRECT_ROOTS (shared memory of a TDX VM), KVM_MIRROR_ROOTS (its private memory),\n");
        text.Append("KVM_INVALID_ROOTS (invalid roots of those kinds too). TDX: a VM with a shared mask and mirror roots.\n");
        text.Append("SW_PROTECTED: KVM_X86_SW_PROTECTED_VM, private memory but no shared mask and no mirror roots.\n");
        text.Append(UnmapOutcome.NotReached + ": the caller never calls kvm_tdp_mmu_unmap_gfn_range() (kvm_mmu_zap_all_fast instead).\n");
        return text.ToString();
    }

    /// <summary>Why each model zaps what it zaps for one unmap: the range its caller builds, the values on the way, the roots walked.</summary>
    public static string RenderWhy(IReadOnlyList<UnmapOutcome> outcomes)
    {
        var text = new StringBuilder();
        var first = outcomes[0];
        text.Append(CultureInfo.InvariantCulture, $"{UnmapCallers.Describe(first.Caller)}, attribute {UnmapCallers.Describe(first.Attribute)}, on a {UnmapCallers.DescribeVm(first.MirroredVm)} VM\n");
        foreach (var outcome in outcomes)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n{outcome.Model}: {(outcome.Decision is null ? "" : "zaps ")}{outcome.Zaps}\n");
            text.Append(CultureInfo.InvariantCulture, $"  {"caller",-21} {outcome.Range.Source}\n");
            if (outcome.Decision is null)
            {
                continue;
            }

            foreach (var step in outcome.Decision.Why)
            {
                text.Append(CultureInfo.InvariantCulture, $"  {step.What,-21} {step.Value}  [{step.Source}]\n");
            }

            var walked = outcome.RootsWalked;
            text.Append(CultureInfo.InvariantCulture, $"  {"roots walked",-21} {(walked.Count == 0 ? "none" : string.Join(", ", walked))}\n");
        }

        return text.ToString();
    }

    private static void AppendRow(StringBuilder text, IReadOnlyList<string> cells, IReadOnlyList<int> widths)
    {
        text.Append('|');
        for (var i = 0; i < cells.Count; i++)
        {
            text.Append(' ').Append(cells[i].PadRight(widths[i])).Append(" |");
        }

        text.Append('\n');
    }
}
