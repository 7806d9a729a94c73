using System.Reflection;
using BenchmarkDotNet.Attributes;
using SpecKit.Features.Messages;

namespace SpecKit.Bench;

/// <summary>
/// What writing Cucumber Messages costs the behaviour suite: every generated scenario of
/// tests/Behaviour run in this process, with messages off (the baseline) and with its messages
/// (and the pictures its snapshot steps attach, and the HTML report) written to a file.
/// <see cref="Kernel"/> false leaves out the <c>@kvm</c> scenarios' kernel tests: their runs of
/// the real KVM (VM setup, ioctls) vary by more than the messages cost, so the 5% target is read
/// on the scenarios without them, and both sides run the same tests.
/// </summary>
public class MessagesBench
{
    private readonly List<(object Instance, MethodInfo Test)> _tests = [];
    private string _path = "";

    [Params(false, true)]
    public bool Kernel { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var assembly = typeof(SpecKit.Behaviour.Steps.VmSteps).Assembly;
        foreach (var type in assembly.GetTypes().Where(t => t.Namespace == "SpecKit.Features.Generated" && t.GetField("Scenarios") is not null).OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var instance = Activator.CreateInstance(type)!;
            _tests.AddRange(type.GetMethods()
                .Where(m => m.GetCustomAttribute<Xunit.FactAttribute>() is { Skip: null } fact && (Kernel || fact is not SpecKit.Features.BackendFactAttribute { Backend: "kernel" }))
                .Select(m => (instance, m)));
        }

        _path = Path.Combine(Path.GetTempPath(), $"speckit-bench-{Environment.ProcessId}.ndjson");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_path);
        File.Delete(Path.ChangeExtension(_path, ".html"));
    }

    [Benchmark(Baseline = true, Description = "behaviour suite, messages off")]
    public void Off() => RunAll();

    [Benchmark(Description = "behaviour suite, messages on (with pictures)")]
    public void On()
    {
        var stream = MessageStream.OpenAt(_path);
        using (MessageStream.Redirect(stream))
        {
            RunAll();
        }

        stream.Finish();
    }

    [Benchmark(Description = "behaviour suite, messages, pictures and the HTML report")]
    public void OnWithReport()
    {
        var stream = MessageStream.OpenAt(_path, Path.ChangeExtension(_path, ".html"));
        using (MessageStream.Redirect(stream))
        {
            RunAll();
        }

        stream.Finish();
    }

    private void RunAll()
    {
        foreach (var (instance, test) in _tests)
        {
            test.Invoke(instance, null);
        }
    }
}
