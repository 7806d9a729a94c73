using BenchmarkDotNet.Attributes;
using SpecKit.Features.Generated;
using SpecKit.Kernel;

namespace SpecKit.Bench;

/// <summary>
/// One @kvm scenario (features/dirty-log/ring.feature, "Entries in order, harvested, then reset
/// with their count") as its two generated tests: on the model alone (the baseline), and on
/// the real kernel through /dev/kvm in lockstep with the model, with its differential report.
/// The kernel test's cost over the model's is the VM and vCPU setup, one KVM_RUN per access
/// (each on the vCPU's own thread, under the watchdog) and the ioctls. Needs /dev/kvm.
/// </summary>
[MemoryDiagnoser]
public class KernelScenarioBench
{
    private readonly DirtyLog_Ring_Feature _feature = new();

    [GlobalSetup]
    public void NeedsKvm()
    {
        if (KernelKvm.Instance is null)
        {
            throw new InvalidOperationException("KernelScenarioBench needs /dev/kvm: " + KernelKvm.UnavailableReason);
        }

        _ = KernelKvm.Instance.Host; // the host probe runs once per process, not in the measurement
    }

    [Benchmark(Baseline = true)]
    public void OnTheModel() => _feature.EntriesInOrderHarvestedThenResetWithTheirCountModel();

    [Benchmark]
    public void OnTheKernel() => _feature.EntriesInOrderHarvestedThenResetWithTheirCountKernel();
}
