using SpecKit.Behaviour.Steps;
using SpecKit.Features;
using SpecKit.Testing;

namespace SpecKit.Behaviour;

/// <summary>
/// The worlds the steps share describe the VM when a scenario fails (IScenarioState), and run
/// the model SPECKIT_MODEL names in place of the base one: driven here step by step, as a
/// generated scenario drives them.
/// </summary>
[Trait("Category", "behaviour")]
public class FailureReportTests
{
    private static ScenarioContext Context() =>
        new(new ScenarioInfo("features/dirty-log/probe.feature", "Probe", "A double report", null, 1, []), Path.GetTempPath(), SnapshotSettings.Strict);

    [Fact]
    public void A_failing_scenario_ends_with_the_spte_tree_and_the_log_and_names_each_breach_once()
    {
        using var context = Context();
        var run = new ScenarioRun(context);
        var steps = context.Get<VmSteps>();
        var log = context.Get<DirtyLogSteps>();
        run.Step("Given", "a VM under the ClearDirtyRecordsDirty model with 1 vCPU", 2, () => steps.AVmUnder("ClearDirtyRecordsDirty", 1));
        run.Step("And", "memslot 0 maps 512 pages at gfn 0x0 with 4K host pages", 3, () => steps.AMemslot(0, 512, 0, 1));
        run.Step("And", "dirty logging is enabled on memslot 0", 4, () => steps.EnableLogging(0));
        run.Step("When", "vCPU 0 writes gfns 0x10", 5, () => steps.WritesMany(0, [0x10]));
        run.Step("And", "the dirty log of memslot 0 is fetched", 6, () => log.Fetch(0));
        run.Step("And", "the dirty log of memslot 0 is fetched again", 7, () => log.Fetch(0));
        run.Step("Then", "the fetch reports none", 8, () => log.FetchReports("none"));
        run.Hook("VmSteps.NoUnclaimedViolations", after: true, steps.NoUnclaimedViolations);

        var report = Assert.Throws<ScenarioFailedException>(run.Complete).Message.Replace("\r\n", "\n");

        Assert.Contains("State of VmWorld at the end of the scenario:\n  model: ClearDirtyRecordsDirty\n  the SPTEs (TdpEpt):\n", report, StringComparison.Ordinal);
        Assert.Contains(context.Get<VmWorld>().Kvm.DescribeSptes().Split('\n')[0], report, StringComparison.Ordinal);
        Assert.Contains("  the log:\n", report, StringComparison.Ordinal);
        Assert.Contains("FAILED  Hook VmSteps.NoUnclaimedViolations", report, StringComparison.Ordinal);
        var breaches = report.Split("dirty page reported twice").Length - 1;
        Assert.True(breaches == 1, $"the breach is named {breaches} times:\n{report}");
    }

    [Fact]
    public void Under_SPECKIT_MODEL_a_scenario_that_asks_for_the_base_model_runs_the_named_one()
    {
        using var context = Context();
        context.Register(new ModelSwitch(context, "ClearDirtyRecordsDirty"));
        var steps = context.Get<VmSteps>();
        steps.AVm(1);
        // The named model's rules run, under the name the scenario wrote, so what the steps
        // print differs from the base's snapshots only where the rules make it differ.
        var kvm = context.Get<VmWorld>().Kvm;
        Assert.Same(SpecKit.Mmu.SpecModels.Named("ClearDirtyRecordsDirty").Rules.ClearDirtyGfnRange, kvm.Rules.ClearDirtyGfnRange);
        Assert.Equal("base", kvm.Rules.Model);
        Assert.Equal("ClearDirtyRecordsDirty", context.ComparedModel);

        using var named = Context();
        named.Register(new ModelSwitch(named, "ClearDirtyRecordsDirty"));
        named.Get<VmSteps>().AVmUnderOn("SyncPage2022", 1, SpecKit.Mmu.X86.MmuKind.Shadow);
        Assert.Equal("SyncPage2022", named.Get<VmWorld>().Kvm.Rules.Model);
        Assert.Null(named.ComparedModel);
    }
}
