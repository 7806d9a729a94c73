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
            using var context = new ScenarioContext(Info(), dir);
            context.AddScrubber("TablePfn", "0x10000[0-9a-f]+");
            context.Verify("root at 0x1000000042");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Accept_mode_is_refused_under_ci()
    {
        var ci = Environment.GetEnvironmentVariable("CI");
        var accept = Environment.GetEnvironmentVariable("SPECKIT_ACCEPT");
        try
        {
            Environment.SetEnvironmentVariable("CI", "true");
            Environment.SetEnvironmentVariable("SPECKIT_ACCEPT", "1");
            Assert.Throws<SnapshotMismatchException>(() => Snapshot.AcceptMode);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CI", ci);
            Environment.SetEnvironmentVariable("SPECKIT_ACCEPT", accept);
        }
    }

    [Fact]
    public void A_mismatch_writes_the_received_file_and_shows_a_unified_diff()
    {
        var dir = Path.Combine(Path.GetTempPath(), "speckit-diff-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "walk.verified.txt"), "a\nb\nc\n");
            var error = Assert.Throws<SnapshotMismatchException>(() => Snapshot.Verify(dir, "walk", "a\nB\nc\n"));
            Assert.True(error.Message.Replace("\r\n", "\n").Contains("@@ -1,3 +1,3 @@\n a\n-b\n+B\n c", StringComparison.Ordinal), error.Message);
            Assert.Equal("a\nB\nc\n", File.ReadAllText(Path.Combine(dir, "walk.received.txt")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
