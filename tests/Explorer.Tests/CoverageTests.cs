using SpecKit.Explorer.Coverage;
using SpecKit.Testing;

namespace SpecKit.Explorer.Tests;

/// <summary>
/// The spec-coverage report's parts that run in the suite: the mutants enumerated from the real
/// spec and the report written from given verdicts. The full run (every mutant built and run) is
/// opt-in: <c>speckit mutate</c>.
/// </summary>
public class CoverageTests
{
    private static readonly SpecLines.Spec Spec = SpecLines.Read(RepoPaths.Spec, RepoPaths.Root);

    private static readonly List<Mutant> All = Mutants.Of(Spec);

    [Fact]
    public void Every_key_line_of_every_base_operation_gets_one_mutant_per_other_value_of_its_key()
    {
        var operations = Spec.Policy.Select(p => p.Operation).Distinct().ToList();
        Assert.Equal(Enum.GetNames<SpecKit.Mmu.Policy.MmuOperation>().Order(), operations.Order());
        foreach (var line in Spec.Policy)
        {
            var mutants = All.Where(m => m.Kind == MutantKind.Policy && m.File == line.File && m.Line == line.Line).ToList();
            var values = Mutants.KeyValues[line.Key];
            var expected = line.Key == "Changes"
                ? values.Length - (line.Values.Count == 1 ? 1 : 0) // each value toggled; the only one is never removed
                : values.Length - 1;
            Assert.True(expected == mutants.Count, $"{line.File}:{line.Line} {line.Subject}: {mutants.Count} mutants, expected {expected}");
            Assert.DoesNotContain(mutants, m => m.To == line.Value);
        }
    }

    [Fact]
    public void Mutant_names_are_unique_identifiers_a_variant_can_take()
    {
        Assert.Equal(All.Count, All.Select(m => m.Id).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(All, m => Assert.Matches("^Mut_[A-Za-z0-9_]+$", m.Id));
    }

    [Fact]
    public void A_policy_mutant_is_a_variant_that_overrides_the_one_key()
    {
        var line = Spec.Policy.Single(p => p.Subject == "ZapLeafs.Flush");
        var mutant = All.Single(m => m.Id == "Mut_ZapLeafs_Flush_Never");
        Assert.Equal(
            $"# spec coverage (speckit mutate): spec/policy/tdp-range-ops.policy:{line.Line}\n" +
            "Variant Mut_ZapLeafs_Flush_Never \"ZapLeafs.Flush OnChange -> Never\"\n\n" +
            "# the Operation keeps its title, so that only the key line tells the mutant from the base\n" +
            "Operation ZapLeafs \"tdp_mmu_zap_leafs(): zap present leaf SPTEs in [start, end) (MMU notifiers, memslot zaps)\"\n" +
            $"  Flush Never \"mutant of spec/policy/tdp-range-ops.policy:{line.Line}\"\n" +
            "EndOperation\n",
            mutant.VariantText);
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, line.File));
        Assert.StartsWith("Flush", lines[line.Line - 1].Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_control_restates_one_key_line_with_the_value_it_has()
    {
        var control = Mutants.Control(Spec);
        var line = Spec.Policy.First(p => p.Key != "Exists");
        Assert.Equal(Mutants.ControlId, control.Id);
        Assert.Equal(line.Value, control.To);
        Assert.Contains($"Variant {Mutants.ControlId} ", control.VariantText, StringComparison.Ordinal);
        Assert.Contains($"Operation {line.Operation} \"{line.Title}\"\n  {line.Key} {line.Value} \"mutant of", control.VariantText, StringComparison.Ordinal);
        Assert.DoesNotContain(All, m => m.Id == Mutants.ControlId);
    }

    [Fact]
    public void A_list_key_is_mutated_by_adding_and_removing_one_value()
    {
        var line = Spec.Policy.Single(p => p.Subject == "ClearDirtyPtMasked.Changes");
        Assert.Equal(["Writable", "Dirty"], line.Values);
        var mutants = All.Where(m => m.Subject == "ClearDirtyPtMasked.Changes").ToDictionary(m => m.Id);
        Assert.Contains("Changes Dirty \"mutant of", mutants["Mut_ClearDirtyPtMasked_Changes_WithoutWritable"].VariantText, StringComparison.Ordinal);
        Assert.Contains("Changes Writable Dirty Zap \"mutant of", mutants["Mut_ClearDirtyPtMasked_Changes_WithZap"].VariantText, StringComparison.Ordinal);
        Assert.Equal("-Writable", mutants["Mut_ClearDirtyPtMasked_Changes_WithoutWritable"].To);
    }

    [Fact]
    public void An_operation_that_is_Exists_No_makes_its_other_keys_equivalent_by_the_spec_s_own_reason()
    {
        var changePte = All.Where(m => m.Subject.StartsWith("ChangePte.", StringComparison.Ordinal)).ToList();
        var exists = Spec.Policy.Single(p => p.Subject == "ChangePte.Exists");
        Assert.Equal("No", exists.Value);
        Assert.Null(changePte.Single(m => m.Subject == "ChangePte.Exists").Note);
        Assert.All(changePte.Where(m => m.Subject != "ChangePte.Exists"), m =>
        {
            Assert.NotNull(m.Note);
            Assert.Equal(exists.Line, m.Note!.Line);
            Assert.Contains("f3b65bbaed7c", m.Note.Reason, StringComparison.Ordinal);
        });
        Assert.All(All.Where(m => !m.Subject.StartsWith("ChangePte.", StringComparison.Ordinal) && m.Note is not null), m => Assert.DoesNotContain("Exists No", m.Note!.Reason, StringComparison.Ordinal));
    }

    [Fact]
    public void A_layout_swap_restates_the_layout_with_only_the_two_fields_bits_exchanged()
    {
        var layout = Spec.Layouts.Single(l => l.Name == "EptSpte");
        var mutant = All.Single(m => m.Id == "Mut_EptSpte_Swap_HostWritable_MmuWritable");
        var text = mutant.VariantText.Split('\n');
        Assert.StartsWith("Variant Mut_EptSpte_Swap_HostWritable_MmuWritable ", text[1], StringComparison.Ordinal);
        var body = text[3..^1];
        Assert.Equal(layout.Text.Count, body.Length);
        var changed = Enumerable.Range(0, body.Length).Where(i => body[i] != layout.Text[i]).ToList();
        Assert.Equal(2, changed.Count);
        Assert.Equal(["HostWritable", "57"], new[] { SpecLines.Tokens(layout.Text[changed[0]])[2].Text, SpecLines.Tokens(layout.Text[changed[0]])[1].Text });
        Assert.Equal("58", SpecLines.Tokens(body[changed[0]])[1].Text);
        Assert.Equal("57", SpecLines.Tokens(body[changed[1]])[1].Text);
        Assert.Equal("MmuWritable", SpecLines.Tokens(body[changed[1]])[2].Text);
        Assert.All(All.Where(m => m.Kind == MutantKind.LayoutSwap), m =>
        {
            var fields = Spec.Layouts.SelectMany(l => l.Fields).Where(f => m.Id.EndsWith($"_{f.Name}", StringComparison.Ordinal) || m.Id.Contains($"_Swap_{f.Name}_", StringComparison.Ordinal));
            Assert.Single(fields.Select(f => f.Width).Distinct());
        });
    }

    [Fact]
    public void A_layout_swap_as_an_edit_of_the_base_file_changes_the_two_lines_the_variant_restates()
    {
        Assert.All(All, m =>
        {
            if (m.Kind == MutantKind.Policy)
            {
                Assert.Empty(m.BaseEdit);
                Assert.Null(m.Layout);
                return;
            }

            var layout = Spec.Layouts.Single(l => l.Name == m.Layout);
            var body = m.VariantText.Split('\n')[3..^1];
            var file = File.ReadAllLines(Path.Combine(RepoPaths.Root, m.File));
            Assert.Equal(2, m.BaseEdit.Count);
            Assert.Equal(m.Line, m.BaseEdit[0].Line);
            foreach (var (line, text) in m.BaseEdit)
            {
                Assert.NotEqual(file[line - 1], text);
                Assert.Equal(body[line - layout.Line], text);
            }
        });
    }

    [Fact]
    public void The_kernel_stage_judges_exactly_the_layouts_of_the_guest_s_page_tables()
    {
        var guest = Spec.Layouts.Where(l => l.File == "spec/layouts/guest-pte.layout").Select(l => l.Name).Order(StringComparer.Ordinal);
        Assert.Equal(guest, KernelStage.JudgedLayouts.Order(StringComparer.Ordinal));
        Assert.All(All, m => Assert.Equal(m.File == "spec/layouts/guest-pte.layout", KernelStage.Judges(m)));
    }

    [Fact]
    public void A_mutant_only_the_kernel_backend_kills_is_killed_and_says_which_tests()
    {
        var swap = All.First(KernelStage.Judges);
        var other = All.Where(KernelStage.Judges).Skip(1).First();
        var results = new MutationResults(
            [
                new(swap.Id) { ExplorerRan = true, ExploredSequences = 937, KernelRan = true, KernelTests = ["SpecKit.Kernel.Tests.GuestPagingTests.A_read_sets_Accessed", "SpecKit.Kernel.Tests.GuestPagingTests.A_write_sets_Dirty"] },
                new(other.Id) { ExplorerRan = true, ExploredSequences = 937, KernelNotRun = "no /dev/kvm on this machine" },
            ],
            TimeSpan.FromSeconds(1),
            "a budget");
        var figures = CoverageReport.Count([swap, other], results);
        Assert.Equal((2, 1, 0, 0, 1, 1), (figures.Mutants, figures.Killed, figures.ByScenarios, figures.ByExplorerOnly, figures.ByKernelOnly, figures.Survived));
        Assert.Equal("the kernel backend, the swap applied to the base: 2 test(s) failed: GuestPagingTests.A_read_sets_Accessed; GuestPagingTests.A_write_sets_Dirty", CoverageReport.Describe(swap, results.Of(swap.Id)));
        Assert.Contains("kernel stage: no /dev/kvm on this machine", CoverageReport.Describe(other, results.Of(other.Id)), StringComparison.Ordinal);

        // Judged by the kernel alone (the explorer and the behaviour suite not asked for), a verdict still counts.
        var kernelOnly = new MutationResults([new(swap.Id) { BehaviourNotRun = "--no-behaviour", KernelRan = true }], TimeSpan.FromSeconds(1), "a budget");
        Assert.Equal(Verdict.Survived, CoverageReport.Of(swap, kernelOnly.Of(swap.Id)));
    }

    [Fact]
    public void Coverage_notes_are_read_with_their_key_values_and_reason()
    {
        var policy = new List<PolicyLine>();
        var notes = new List<CoverageNote>();
        SpecLines.ReadPolicy("x.policy", [
            "Operation ZapRoot \"t\"  # a comment",
            "  Flush           Caller   \"kvm_tdp_mmu_zap_invalidated_roots\"",
            "  Equivalent      Flush Always OnChange \"a vCPU flushes when it loads a new root\"",
            "  Unread          Visits   \"nothing reads Visits\"",
            "EndOperation",
        ], policy, notes);
        var flush = Assert.Single(policy);
        Assert.Equal(("ZapRoot", "Flush", "Caller", 2), (flush.Operation, flush.Key, flush.Value, flush.Line));
        Assert.Equal(2, notes.Count);
        Assert.Equal(["Always", "OnChange"], notes[0].Values);
        Assert.True(notes[0].Covers("Always") && !notes[0].Covers("Never"));
        Assert.True(notes[1].Unread && notes[1].Covers("AllLevels"));
        Assert.Equal("nothing reads Visits", notes[1].Reason);
    }

    private static Mutant M(string id, CoverageNote? note = null) =>
        new(id, MutantKind.Policy, "spec/policy/x.policy", 3, "ZapRoot.Flush", "Caller", id, "", note);

    private static readonly CoverageNote Equivalent = new("spec/policy/x.policy", 4, "ZapRoot", false, "Flush", [], "a vCPU flushes when it loads a new root");

    private static readonly CoverageNote Unread = new("spec/policy/x.policy", 5, "ZapRoot", true, "Flush", [], "nothing reads it");

    [Fact]
    public void The_report_gives_each_mutant_what_killed_it_or_why_it_stands_and_counts_the_ratio_over_the_unexcused()
    {
        List<Mutant> mutants = [M("Scen"), M("Expl"), M("Refused"), M("Equiv", Equivalent), M("Unread", Unread), M("Survivor"), M("Wrong", Equivalent)];
        var results = new MutationResults(
            [
                new("Scen") { ExplorerRan = true, Scenarios = ["features/tdp/zap.feature:12  Zap a range"] },
                new("Expl") { ExplorerRan = true, Explorer = new ExplorerKill("npt", "stale translation", "vCPU 0 used a stale TLB entry", "seed1", ["Given a VM with 1 vCPU on NPT", "When vCPU 0 writes gfn 0x10"]) },
                new("Refused") { Rejected = "SPEC022: Operation ZapRoot: Lock None (RCU only) with Changes Zap" },
                new("Equiv") { ExplorerRan = true, ExploredSequences = 900 },
                new("Unread") { ExplorerRan = true },
                new("Survivor") { ExplorerRan = true, ExploredSequences = 1234 },
                new("Wrong") { ExplorerRan = true, Scenarios = ["features/a.feature:3  A"] },
            ],
            TimeSpan.FromSeconds(95),
            "a budget");

        var figures = CoverageReport.Count(mutants, results);
        Assert.Equal(new CoverageReport.Figures(7, 3, 2, 1, 1, 1, 1, 1, 1, 0), figures);
        Assert.Equal("4/5 (80.0 %)", figures.Ratio);

        var report = CoverageReport.Write(mutants, results);
        Assert.Contains("it took 1 min 35 s", report, StringComparison.Ordinal);
        Assert.Contains("**4/5 (80.0 %)**", report, StringComparison.Ordinal);
        Assert.Contains("| 3 | ZapRoot.Flush | Caller | Scen | 1 scenario(s): features/tdp/zap.feature:12 Zap a range |", report, StringComparison.Ordinal);
        Assert.Contains("| Expl | explorer (npt, 2 steps): stale translation |", report, StringComparison.Ordinal);
        Assert.Contains("refused by the spec generator: SPEC022", report, StringComparison.Ordinal);
        Assert.Contains("equivalent: Equivalent at line 4: a vCPU flushes when it loads a new root", report, StringComparison.Ordinal);
        Assert.Contains("drives nothing today: Unread at line 5: nothing reads it", report, StringComparison.Ordinal);
        Assert.Contains("**survived** (1,234 explorer sequences)", report, StringComparison.Ordinal);
        Assert.Contains("**killed despite the note**", report, StringComparison.Ordinal);
        var survivors = report[report.IndexOf("## Survivors", StringComparison.Ordinal)..report.IndexOf("## spec/policy/x.policy", StringComparison.Ordinal)];
        Assert.Contains("Survivor", survivors, StringComparison.Ordinal);
        Assert.Contains("Wrong", survivors, StringComparison.Ordinal);
        Assert.DoesNotContain("Equiv:", survivors, StringComparison.Ordinal);
        Assert.Contains("```gherkin\nGiven a VM with 1 vCPU on NPT\nWhen vCPU 0 writes gfn 0x10\nThen the checker reports nothing\n```", report, StringComparison.Ordinal);
    }

    [Fact]
    public void A_scenario_that_differs_under_the_control_too_kills_no_mutant_and_the_report_lists_it()
    {
        const string naming = "features/spte/layouts.feature:24  FROZEN_SPTE changed value in v6.13 but was never shadow-present";
        List<Mutant> mutants = [M("OnlyNaming"), M("Both")];
        var results = new MutationResults(
            [
                new("OnlyNaming") { ExplorerRan = true, Scenarios = [naming] },
                new("Both") { ExplorerRan = true, Scenarios = [naming, "features/tdp/zap.feature:12  Zap a range"] },
            ],
            TimeSpan.Zero,
            "")
        { Control = new MutantResult(Mutants.ControlId) { ExplorerRan = true, ExploredSequences = 10, Scenarios = [naming] } };

        Assert.Equal(Verdict.Survived, CoverageReport.Of(mutants[0], results.Of("OnlyNaming")));
        Assert.Equal([naming], results.Of("OnlyNaming")!.Uncounted);
        Assert.Equal(["features/tdp/zap.feature:12  Zap a range"], results.Of("Both")!.Scenarios);
        var report = CoverageReport.Write(mutants, results);
        Assert.Contains("not counted as a kill of any mutant: `features/spte/layouts.feature:24 FROZEN_SPTE", report, StringComparison.Ordinal);
        Assert.Contains("1 scenario(s) differ as under the control, not counted", report, StringComparison.Ordinal);
        Assert.Equal(results.Control!.Scenarios, MutationResults.FromJson(results.ToJson()).Control!.Scenarios);
    }

    [Fact]
    public void The_explorer_kills_a_mutant_only_on_a_case_the_base_passes()
    {
        // The base under its own name: whatever the explorer met would be the base's too, so it kills nothing.
        var @base = MutantExplorer.Explore(SpecKit.Mmu.SpecModels.Base, 40);
        Assert.Null(@base.Explorer);
        Assert.True(@base.ExploredSequences > 0);

        var kill = MutantExplorer.Explore(SpecKit.Mmu.SpecModels.Named("ZapYieldWithoutFlush"), 300).Explorer;
        Assert.NotNull(kill);
        Assert.Equal("ept", kill.Kind);
        Assert.Empty(MutantExplorer.Explore(SpecKit.Mmu.SpecModels.Named("ZapYieldWithoutFlush"), 300).ExplorerAlsoUnderBase);
    }

    [Fact]
    public void A_mutant_without_results_is_not_run_and_counts_for_nothing()
    {
        var figures = CoverageReport.Count([M("A"), M("B")], new MutationResults([new("A") { ExplorerRan = true, Scenarios = ["f:1 s"] }], TimeSpan.Zero, ""));
        Assert.Equal(1, figures.NotRun);
        Assert.Equal("1/1 (100.0 %)", figures.Ratio);
    }

    [Fact]
    public void A_mutant_the_spec_generator_refuses_is_killed_whatever_note_it_has()
    {
        var refused = new MutantResult("A") { Rejected = "SPEC022: Operation ChangePte: Lock None (RCU only) with Changes Pfn" };
        Assert.Equal(Verdict.Killed, CoverageReport.Of(M("A", Equivalent), refused));
        Assert.Equal(Verdict.KilledDespiteNote, CoverageReport.Of(M("A", Equivalent), new MutantResult("A") { ExplorerRan = true, Scenarios = ["f:1 s"] }));
    }

    [Fact]
    public void Results_survive_the_round_trip_between_the_stages()
    {
        var results = new MutationResults([new("A") { ExplorerRan = true, Explorer = new ExplorerKill("ept", "r", "m", "s", ["Given x"]), ExploredSequences = 7 }], TimeSpan.FromSeconds(3), "b");
        var back = MutationResults.FromJson(results.ToJson());
        Assert.Equal(results.Took, back.Took);
        var a = back.Of("A")!;
        Assert.Equal(("ept", 7L, "Given x"), (a.Explorer!.Kind, a.ExploredSequences, a.Explorer.Steps[0]));
    }
}
