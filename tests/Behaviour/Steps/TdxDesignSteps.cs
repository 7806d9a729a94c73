using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdx;

namespace SpecKit.Behaviour.Steps;

/// <summary>Parameter types for TDX unmaps: the kind of VM and the caller of kvm_unmap_gfn_range().</summary>
public static class TdxParameterTypes
{
    /// <summary><c>{vm_kind}</c>: TDX (a shared mask, mirror roots) or SW_PROTECTED (private memory, neither); true for TDX.</summary>
    [ParameterType("vm_kind", @"\S+", Words = ["TDX", "SW_PROTECTED"])]
    public static bool MirroredVm(string text) => text == "TDX";

    /// <summary><c>{unmap_caller}</c>: a caller as <see cref="UnmapCallers.Describe(UnmapCaller)"/> writes it.</summary>
    [ParameterType("unmap_caller", "HVA mmu_notifier|guest_memfd invalidation|memory-attribute change|memslot delete/move")]
    public static UnmapCaller Caller(string text) => UnmapCallers.Parse(text);

    /// <summary><c>{new_attribute}</c>: the attribute a memory-attribute change sets, or none for a caller that carries none.</summary>
    [ParameterType("new_attribute", @"\S+", Words = ["private", "shared", "none"])]
    public static MemoryAttribute? NewAttribute(string text) => text switch
    {
        "private" => MemoryAttribute.Private,
        "shared" => MemoryAttribute.Shared,
        _ => null,
    };
}

/// <summary>The unmap (or aging) a TDX scenario asks about, run under whichever models its steps name.</summary>
public sealed class TdxWorld
{
    /// <summary>The roots the last operation walks under a model's rules.</summary>
    public Func<MmuRules, IReadOnlyList<TdpRootRole>>? Walk { get; set; }

    /// <summary>The last unmap under a model's rules.</summary>
    public Func<MmuRules, UnmapOutcome>? Unmap { get; set; }

    /// <summary>The outcomes the scenario has checked, in order: the models its "why" snapshot explains.</summary>
    public List<UnmapOutcome> Checked { get; } = [];

    public UnmapComparison? Comparison { get; set; }
}

/// <summary>
/// Steps comparing the designs of root selection in kvm_tdp_mmu_unmap_gfn_range(). Each model's
/// spec (Operation UnmapGfnRange, RootFilter) picks its design; the steps only name models.
/// </summary>
[Binding]
public sealed class TdxDesignSteps(TdxWorld world, ScenarioContext context, ModelSwitch models)
{
    [When("the {unmap_caller} unmaps a range of a {vm_kind} VM, new attribute {new_attribute}")]
    public void Unmaps(UnmapCaller caller, bool mirroredVm, MemoryAttribute? newAttribute)
    {
        world.Unmap = rules => UnmapOutcome.Run(rules, mirroredVm, caller, newAttribute);
        world.Walk = rules => world.Unmap(rules).RootsWalked;
    }

    /// <summary>
    /// clear_young is HVA-based: __kvm_handle_hva_range sets attr_filter = KVM_FILTER_SHARED for
    /// every HVA handler, aging included (kvm_main.c, v6.14).
    /// </summary>
    [When("clear_young ages a range of a {vm_kind} VM")]
    public void Ages(bool mirroredVm)
    {
        world.Unmap = null;
        world.Walk = rules =>
        {
            var types = TdpMmuRoots.AgeRootTypes(rules, mirroredVm, KvmGfnRangeFilter.Shared);
            return TdpRootRole.OneOfEach(mirroredVm).Where(root => TdpMmuRoots.RootMatch(root, types)).ToList();
        };
    }

    [Then("under the {model} model the unmap zaps {}")]
    public void UnmapZaps(string model, string expected)
    {
        var unmap = world.Unmap ?? throw new InvalidOperationException("no unmap yet: start with 'When the ... unmaps a range of a ... VM'");
        var outcome = unmap(models.Info(model).Rules);
        world.Checked.Add(outcome);
        Assert.True(expected == outcome.Zaps, $"under the {model} model the unmap zaps {outcome.Zaps}, not {expected}\n{UnmapComparison.RenderWhy([outcome])}");
    }

    [Then("under the {model} model the roots walked are {}")]
    public void RootsWalked(string model, string expected)
    {
        var walk = world.Walk ?? throw new InvalidOperationException("no unmap or aging yet");
        var walked = walk(models.Info(model).Rules);
        Assert.Equal(expected, walked.Count == 0 ? "none" : string.Join(", ", walked));
    }

    [Then("why each model zaps what it zaps matches the snapshot")]
    public void WhySnapshot() => context.Verify(UnmapComparison.RenderWhy(world.Checked), "why");

    [When("every unmap is run under the models {}")]
    public void Compare(string names) =>
        world.Comparison = UnmapComparison.Of(names.Split(", ").Select(name => models.Info(name).Rules).ToList());

    [Then("the comparison table matches the snapshot")]
    public void TableSnapshot() => context.Verify(Comparison.RenderTable(), "table");

    [Then("the models disagree on exactly these rows:")]
    public void DisagreeOn(DataTable table)
    {
        var expected = table.AsDictionaries().Select(row => $"{row["vm"]} | {row["caller"]} | {row["attribute"]}").ToList();
        var actual = Comparison.Rows.Where(row => !row.Agree)
            .Select(row => $"{UnmapCallers.DescribeVm(row.MirroredVm)} | {UnmapCallers.Describe(row.Caller)} | {UnmapCallers.Describe(row.Attribute)}")
            .ToList();
        Assert.Equal(expected, actual);
    }

    private UnmapComparison Comparison => world.Comparison ?? throw new InvalidOperationException("no comparison yet: start with 'When every unmap is run under the models ...'");
}
