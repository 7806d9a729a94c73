using SpecKit.Features;
using SpecKit.Features.Messages;
using SpecKit.Testing;

namespace SpecKit.Report.Tests;

/// <summary>
/// Samples/small-run.feature run through the feature runtime by hand (so one scenario can fail
/// without failing a test): its messages, TestResults/report/small-run.ndjson, and the report the
/// stream writes beside it as it goes.
/// </summary>
public static class SmallRun
{
    public const string FeatureFile = "tests/Report.Tests/Samples/small-run.feature";

    private static readonly Lazy<string> Recorded = new(Record);

    /// <summary>The run's messages, recorded once per test process.</summary>
    public static string MessagesPath => Recorded.Value;

    public static string HtmlPath => Path.ChangeExtension(MessagesPath, ".html");

    private static readonly StepDefinitionInfo AVm = new("SmallRun.AVm", "a VM with {int} vCPU(s)", false, "tests/Report.Tests/SmallRun.cs", 1, ["int"]);
    private static readonly StepDefinitionInfo Writes = new("SmallRun.Writes", "vCPU {int} writes gfn {gfn}", false, "tests/Report.Tests/SmallRun.cs", 1, ["int", "gfn"]);
    private static readonly StepDefinitionInfo Holds = new("SmallRun.Holds", "the dirty log holds gfn {gfn}", false, "tests/Report.Tests/SmallRun.cs", 1, ["gfn"]);
    private static readonly StepDefinitionInfo Count = new("SmallRun.Count", "{int} pages are dirty", false, "tests/Report.Tests/SmallRun.cs", 1, ["int"]);
    private static readonly StepDefinitionInfo Nothing = new("SmallRun.Nothing", "nothing else is logged", false, "tests/Report.Tests/SmallRun.cs", 1, []);
    private static readonly StepDefinitionInfo Drawn = new("SmallRun.Drawn", "the SPTE tree is drawn", false, "tests/Report.Tests/SmallRun.cs", 1, []);

    private static string Record()
    {
        var path = Path.Combine(RepoPaths.Root, "TestResults", "report", "small-run.ndjson");
        var stream = MessageStream.OpenAt(path, Path.ChangeExtension(path, ".html"));
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, FeatureFile));
        int LineOf(string text) => Array.FindIndex(lines, l => l.Trim() == text) + 1;
        using (MessageStream.Redirect(stream))
        {
            Run(new ScenarioInfo(FeatureFile, "A small run for the report", "A write is logged", null, LineOf("Scenario: A write is logged"), ["report"]), run =>
            {
                var vm = new SmallVm();
                Background(run, vm);
                run.Step("When", "vCPU 0 writes gfn 0x10", LineOf("When vCPU 0 writes gfn 0x10"), Writes, [5, 1, 18, 4], () => vm.Write(0x10));
                run.Step("Then", "the dirty log holds gfn 0x10", LineOf("Then the dirty log holds gfn 0x10"), Holds, [24, 4], () =>
                {
                    Assert.Equal(0, vm.Kvm.GetDirtyLog(0, out var bitmap));
                    run.Context.Attach(SpecKit.Pictures.DirtyBitmapPicture.Render(0, 0x400, bitmap, "The dirty bitmap of memslot 0"), "image/svg+xml");
                    Assert.NotEqual(0ul, bitmap[0] & (1ul << 0x10));
                });
            });
            Run(new ScenarioInfo(FeatureFile, "A small run for the report", "A count that is wrong", null, LineOf("Scenario: A count that is wrong"), ["report"]), run =>
            {
                var vm = new SmallVm();
                Background(run, vm);
                run.Step("When", "vCPU 0 writes gfn 0x10", LineOf("Scenario: A count that is wrong") + 1, Writes, [5, 1, 18, 4], () => vm.Write(0x10));
                run.Step("Then", "2 pages are dirty", LineOf("Then 2 pages are dirty"), Count, [0, 1], () => Assert.Equal(2, vm.Dirty.Count));
                run.Step("And", "nothing else is logged", LineOf("And nothing else is logged"), Nothing, [], () => { });
            });
            var outline = LineOf("Scenario Outline: The tree after a write at <gfn>");
            foreach (var gfn in new[] { "0x10", "0x200" })
            {
                var info = new ScenarioInfo(FeatureFile, "A small run for the report", "The tree after a write at <gfn>", $"gfn={gfn}", outline, ["report"])
                {
                    ExampleLine = Array.FindIndex(lines, l => l.Trim().StartsWith("| " + gfn + " ", StringComparison.Ordinal)) + 1,
                    DisplayName = $"The tree after a write at {gfn}",
                };
                Run(info, run =>
                {
                    var vm = new SmallVm();
                    Background(run, vm);
                    run.Step("When", $"vCPU 0 writes gfn {gfn}", outline + 1, Writes, [5, 1, 18, gfn.Length], () => vm.Write(Convert.ToUInt64(gfn, 16)));
                    run.Step("Then", "the SPTE tree is drawn", outline + 2, Drawn, [], () =>
                    {
                        run.Context.Attach(vm.Picture(), "image/svg+xml");
                        run.Context.Attach(SpecKit.Pictures.EventLogPicture.Render(vm.Kvm.Log, "The log"), "image/svg+xml");
                    });
                });
            }
        }

        stream.Finish();
        return path;
    }

    private static void Background(ScenarioRun run, SmallVm vm) =>
        run.Step("Given", "a VM with 1 vCPU", 7, AVm, [10, 1], () => vm.Create(1));

    private static void Run(ScenarioInfo info, Action<ScenarioRun> steps)
    {
        using var context = new ScenarioContext(info, Path.Combine(RepoPaths.Root, "tests", "Report.Tests", "Samples"));
        var run = new ScenarioRun(context);
        steps(run);
        try
        {
            run.Complete();
        }
        catch (ScenarioFailedException)
        {
            // The failing scenario is the point: the report shows it.
        }
    }
}
