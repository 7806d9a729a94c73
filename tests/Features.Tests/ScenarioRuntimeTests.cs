using SpecKit.Features;
using SpecKit.Testing;

namespace SpecKit.Tests.Features;

/// <summary>The scenario runtime: failure reports, skipped steps, hooks, context injection, snapshot names and scrubbers.</summary>
public class ScenarioRuntimeTests
{
    private static ScenarioInfo Info(string? example = null) =>
        new("features/dirty-log/double.feature", "Double reporting", "Second fetch is empty", example, 14, ["dirty-log"]);

    public sealed class Log : IDisposable
    {
        public List<string> Lines { get; } = [];

        public void Dispose() => Lines.Add("disposed");
    }

    public sealed class Uses(Log log)
    {
        public Log Log { get; } = log;
    }

    public sealed class Cycle(Cycle other)
    {
        public Cycle Other { get; } = other;
    }

    [Fact]
    public void A_failing_step_names_the_file_line_step_and_assertion_and_skips_the_rest()
    {
        using var context = new ScenarioContext(Info(), Path.GetTempPath());
        var run = new ScenarioRun(context);
        var ran = new List<string>();
        run.Step("Given", "a VM", 15, () => ran.Add("given"));
        run.Step("Then", "the log is empty", 16, () => Assert.Equal(0, 3));
        run.Step("And", "nothing is flushed", 17, () => ran.Add("never"));
        run.Hook("Hooks.After", after: true, () => ran.Add("after"));

        var error = Assert.Throws<ScenarioFailedException>(run.Complete);
        Assert.Equal(["given", "after"], ran);
        Assert.Contains("features/dirty-log/double.feature:14: Scenario: Second fetch is empty", error.Message, StringComparison.Ordinal);
        Assert.Contains("FAILED  Then the log is empty  (features/dirty-log/double.feature:16)", error.Message, StringComparison.Ordinal);
        Assert.Contains("Expected: 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("Actual:   3", error.Message, StringComparison.Ordinal);
        Assert.Contains("skipped And nothing is flushed  (features/dirty-log/double.feature:17)", error.Message, StringComparison.Ordinal);
        Assert.IsType<Xunit.Sdk.EqualException>(error.InnerException);
    }

    [Fact]
    public void A_failing_before_hook_skips_every_step()
    {
        using var context = new ScenarioContext(Info(), Path.GetTempPath());
        var run = new ScenarioRun(context);
        run.Hook("Hooks.Before", after: false, () => throw new InvalidOperationException("no VM"));
        run.Step("Given", "a VM", 15, () => throw new InvalidOperationException("must not run"));
        var error = Assert.Throws<ScenarioFailedException>(run.Complete);
        Assert.Contains("FAILED  Hook Hooks.Before", error.Message, StringComparison.Ordinal);
        Assert.Contains("skipped Given a VM", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Context_objects_are_shared_within_a_scenario_and_disposed_after_it()
    {
        Log log;
        using (var context = new ScenarioContext(Info(), Path.GetTempPath()))
        {
            var uses = context.Get<Uses>();
            log = context.Get<Log>();
            Assert.Same(log, uses.Log);
            Assert.Same(context, context.Get<ScenarioContext>());
            Assert.Empty(log.Lines);
        }

        Assert.Equal(["disposed"], log.Lines);
    }

    [Fact]
    public void A_constructor_cycle_is_reported_by_type()
    {
        using var context = new ScenarioContext(Info(), Path.GetTempPath());
        var error = Assert.Throws<InvalidOperationException>(() => context.Get<Cycle>());
        Assert.Contains("Context injection cycle: Cycle -> Cycle", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Snapshot_names_follow_verify_conventions()
    {
        Assert.Equal("double.Second fetch is empty", ScenarioContext.SnapshotName(Info(), null));
        Assert.Equal("double.Second fetch is empty.level=2, gfn=0x200.tree", ScenarioContext.SnapshotName(Info("level=2, gfn=0x200"), "tree"));
        Assert.Equal("double.make_spte() builds it", ScenarioContext.SnapshotName(Info() with { ScenarioName = "make_spte() builds it" }, null));
    }

    [Fact]
    public void Scrubbers_replace_values_that_vary_and_keep_repeats_visible()
    {
        var text = "run 3f2504e0-4f89-11d3-9a0c-0305e82c3301 at 2026-11-21T09:00:00Z took 12 ms; again 3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        Assert.Equal("run {Guid_1} at {DateTime_1} took 12 ms; again {Guid_1}", Snapshot.Scrub(text, Snapshot.DefaultScrubbers));
    }

    [Fact]
    public void A_scenario_scrubber_applies_to_its_snapshots()
    {
        var dir = Path.Combine(Path.GetTempPath(), "speckit-scrub-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "snapshots"));
        try
        {
            File.WriteAllText(Path.Combine(dir, "snapshots", "double.Second fetch is empty.verified.txt"), "root at {TablePfn_1}\n");
            using var context = new ScenarioContext(Info(), dir, SnapshotSettings.Strict);
            context.AddScrubber("TablePfn", "0x10000[0-9a-f]+");
            context.Verify("root at 0x1000000042");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// From the switches' values, not the process environment: setting CI=true here would make
    /// every snapshot test running beside it refuse a user's SPECKIT_ACCEPT=1.
    /// </summary>
    [Fact]
    public void Accept_mode_is_refused_under_ci()
    {
        Assert.Throws<SnapshotMismatchException>(() => SnapshotSettings.From(accept: "1", ci: "true"));
        Assert.True(SnapshotSettings.From(accept: "1", ci: null).Accept);
        Assert.False(SnapshotSettings.From(accept: null, ci: "true").Accept);
    }

    [Fact]
    public void A_mismatch_writes_the_received_file_and_shows_a_unified_diff()
    {
        var dir = Path.Combine(Path.GetTempPath(), "speckit-diff-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "walk.verified.txt"), "a\nb\nc\n");
            var error = Assert.Throws<SnapshotMismatchException>(() => Snapshot.Verify(dir, "walk", "a\nB\nc\n", settings: SnapshotSettings.Strict));
            Assert.True(error.Message.Replace("\r\n", "\n").Contains("@@ -1,3 +1,3 @@\n a\n-b\n+B\n c", StringComparison.Ordinal), error.Message);
            Assert.Equal("a\nB\nc\n", File.ReadAllText(Path.Combine(dir, "walk.received.txt")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

/// <summary>What a failed scenario's report ends with, and how a row of an outline is named in it.</summary>
public class ScenarioReportTests
{
    private static ScenarioInfo Row() =>
        new ScenarioInfo("features/dirty-log/clear.feature", "Clear", "Fetch and clear twice (<model>)", "model=ClearDirtyRecordsDirty", 7, [])
        {
            DisplayName = "Fetch and clear twice (ClearDirtyRecordsDirty)",
            ExampleLine = 22,
        };

    public sealed class World : IScenarioState
    {
        public string? State { get; set; }

        public string? DescribeState() => State;
    }

    public sealed class Broken : IScenarioState
    {
        public string DescribeState() => throw new InvalidOperationException("no root");
    }

    [Fact]
    public void A_failing_row_is_named_with_its_values_and_the_report_points_at_its_examples_row()
    {
        using var context = new ScenarioContext(Row(), Path.GetTempPath(), SnapshotSettings.Strict);
        var run = new ScenarioRun(context);
        run.Step("Then", "the fetch reports 0x10", 9, () => Assert.Equal("0x10", "0x10, 0x11"));
        var error = Assert.Throws<ScenarioFailedException>(run.Complete);
        Assert.StartsWith("features/dirty-log/clear.feature:7: Scenario: Fetch and clear twice (ClearDirtyRecordsDirty)\n  Examples row model=ClearDirtyRecordsDirty  (features/dirty-log/clear.feature:22)\n", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_report_ends_with_the_state_of_every_object_that_describes_itself()
    {
        using var context = new ScenarioContext(Row(), Path.GetTempPath(), SnapshotSettings.Strict);
        context.Get<World>().State = "model: base\nthe SPTE tree:\n  L4 0x0 -> table\n";
        context.Get<Broken>();
        var run = new ScenarioRun(context);
        run.Step("Then", "it fails", 9, () => throw new InvalidOperationException("boom"));
        var error = Assert.Throws<ScenarioFailedException>(run.Complete);
        Assert.EndsWith(
            "\n\nState of World at the end of the scenario:\n  model: base\n  the SPTE tree:\n    L4 0x0 -> table\n\nState of Broken at the end of the scenario:\n  (could not be described: InvalidOperationException: no root)",
            error.Message.Replace("\r\n", "\n"),
            StringComparison.Ordinal);
    }

    [Fact]
    public void A_passing_scenario_describes_nothing_and_one_without_state_adds_no_section()
    {
        using var context = new ScenarioContext(Row(), Path.GetTempPath(), SnapshotSettings.Strict);
        context.Get<World>();
        var run = new ScenarioRun(context);
        run.Step("Then", "it fails", 9, () => throw new InvalidOperationException("boom"));
        var error = Assert.Throws<ScenarioFailedException>(run.Complete);
        Assert.DoesNotContain("State of", error.Message, StringComparison.Ordinal);

        using var passing = new ScenarioContext(Row(), Path.GetTempPath(), SnapshotSettings.Strict);
        passing.Get<World>().State = "model: base";
        new ScenarioRun(passing).Complete();
    }

    /// <summary>SPECKIT_MODEL: the base model is replaced, snapshots are compared and never written, and the verdict is the test's.</summary>
    [Fact]
    public void Under_another_model_a_scenario_passes_when_the_same_and_fails_with_every_difference()
    {
        var dir = Path.Combine(Path.GetTempPath(), "speckit-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "snapshots"));
        try
        {
            var info = new ScenarioInfo("features/x/f.feature", "F", "S", null, 3, []);
            File.WriteAllText(Path.Combine(dir, "snapshots", "f.S.log.verified.txt"), "fetch 0x10\n");
            File.WriteAllText(Path.Combine(dir, "snapshots", "f.S.tree.verified.txt"), "L1 0x10 W\n");

            using (var same = new ScenarioContext(info, dir, SnapshotSettings.Strict))
            {
                Assert.Equal("Patched", new ModelSwitch(same, "Patched").Resolve("base"));
                Assert.Equal("Other", new ModelSwitch(same, "Patched").Resolve("Other"));
                var run = new ScenarioRun(same);
                run.Step("Then", "the log matches", 4, () => same.Verify("fetch 0x10", "log"));
                run.Complete();
            }

            using var differs = new ScenarioContext(info, dir, new SnapshotSettings(Accept: true));
            new ModelSwitch(differs, "Patched").Resolve("base");
            var changed = new ScenarioRun(differs);
            changed.Step("Then", "the log matches", 4, () => differs.Verify("fetch 0x10\nfetch 0x10", "log"));
            changed.Step("And", "the tree matches", 5, () => differs.Verify("L1 0x10 R", "tree"));
            var error = Assert.Throws<ScenarioFailedException>(changed.Complete);
            Assert.StartsWith("Under SPECKIT_MODEL=Patched this scenario differs from the base model:\n", error.Message, StringComparison.Ordinal);
            Assert.Contains("+fetch 0x10\n", error.Message.Replace("\r\n", "\n"), StringComparison.Ordinal);
            Assert.Contains("-L1 0x10 W\n+L1 0x10 R", error.Message.Replace("\r\n", "\n"), StringComparison.Ordinal);

            // Neither accepted over the base's snapshot (even with accept on) nor left to be accepted later.
            Assert.Equal("fetch 0x10\n", File.ReadAllText(Path.Combine(dir, "snapshots", "f.S.log.verified.txt")));
            Assert.Empty(Directory.GetFiles(Path.Combine(dir, "snapshots"), "*.received.*"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// SPECKIT_MODEL=M: a step that checks every model checks M alone, in the base's place, since
    /// the others come out as they do as written; so a model that fails such a check (another of
    /// speckit mutate's mutants, built beside M) decides nothing about M.
    /// </summary>
    [Fact]
    public void Under_another_model_every_model_means_that_model_in_the_base_s_place()
    {
        var info = new ScenarioInfo("features/x/f.feature", "F", "S", null, 3, []);
        string[] all = ["base", "Older", "Patched", "Mut_Other"];

        using var asWritten = new ScenarioContext(info, Path.GetTempPath(), SnapshotSettings.Strict);
        Assert.Equal(all, new ModelSwitch(asWritten, null).Every(all));
        Assert.Null(asWritten.ComparedModel);

        using var compared = new ScenarioContext(info, Path.GetTempPath(), SnapshotSettings.Strict);
        Assert.Equal(["Patched"], new ModelSwitch(compared, "Patched").Every(all));
        Assert.Equal("Patched", compared.ComparedModel);
    }
}
