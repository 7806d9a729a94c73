using System.Reflection;
using BenchmarkDotNet.Attributes;
using SpecKit.Features.Messages;

namespace SpecKit.Bench;

/// <summary>
/// What writing Cucumber Messages costs the behaviour suite: every generated scenario of
/// tests/Behaviour run in this process, with messages off (the baseline) and with its messages
/// (and the pictures its snapshot steps attach, and the HTML report) written to a file. The
/// <c>ModelOnly</c> pair leaves out the @kvm scenarios' kernel tests, whose runs on /dev/kvm
/// are most of the whole suite's spread, so each pair is a ratio against its own baseline.
/// </summary>
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class MessagesBench
{
    private readonly List<(object Instance, MethodInfo Test)> _tests = [];
    private List<(object Instance, MethodInfo Test)> _modelTests = [];
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        var assembly = typeof(SpecKit.Behaviour.Steps.VmSteps).Assembly;
        foreach (var type in assembly.GetTypes().Where(t => t.Namespace == "SpecKit.Features.Generated" && t.GetField("Scenarios") is not null).OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var instance = Activator.CreateInstance(type)!;
            _tests.AddRange(type.GetMethods().Where(m => m.GetCustomAttribute<Xunit.FactAttribute>() is { Skip: null }).Select(m => (instance, m)));
        }

        // A @kvm scenario's kernel test is its model test's name with "Kernel" after it (the feature emitter's naming).
        _modelTests = _tests.Where(t => !t.Test.Name.EndsWith("Kernel", StringComparison.Ordinal)).ToList();
        _path = Path.Combine(Path.GetTempPath(), $"speckit-bench-{Environment.ProcessId}.ndjson");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_path);
        File.Delete(Path.ChangeExtension(_path, ".html"));
    }

    [Benchmark(Baseline = true, Description = "behaviour suite, messages off")]
    [BenchmarkCategory("Suite")]
    public void Off() => RunAll(_tests);

    [Benchmark(Description = "behaviour suite, messages on (with pictures)")]
    [BenchmarkCategory("Suite")]
    public void On() => WithMessages(_tests);

    [Benchmark(Baseline = true, Description = "non-@kvm tests, messages off")]
    [BenchmarkCategory("ModelOnly")]
    public void ModelOnlyOff() => RunAll(_modelTests);

    [Benchmark(Description = "non-@kvm tests, messages on (with pictures)")]
    [BenchmarkCategory("ModelOnly")]
    public void ModelOnlyOn() => WithMessages(_modelTests);

    [Benchmark(Description = "behaviour suite, messages, pictures and the HTML report")]
    [BenchmarkCategory("Suite")]
    public void OnWithReport()
    {
        var stream = MessageStream.OpenAt(_path, Path.ChangeExtension(_path, ".html"));
        using (MessageStream.Redirect(stream))
        {
            RunAll(_tests);
        }

        stream.Finish();
    }

    private void WithMessages(List<(object Instance, MethodInfo Test)> tests)
    {
        var stream = MessageStream.OpenAt(_path);
        using (MessageStream.Redirect(stream))
        {
            RunAll(tests);
        }

        stream.Finish();
    }

    private static void RunAll(List<(object Instance, MethodInfo Test)> tests)
    {
        foreach (var (instance, test) in tests)
        {
            test.Invoke(instance, null);
        }
    }
}
