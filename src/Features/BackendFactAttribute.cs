using Xunit;

namespace SpecKit.Features;

/// <summary>
/// The test of a <c>@kvm</c> scenario on one backend. The model always runs; the kernel needs
/// /dev/kvm (or the device SPECKIT_KVM_DEVICE names) that this process can open read-write on
/// x86-64 Linux, and is skipped with the reason otherwise. The kernel backend itself
/// (SpecKit.Kernel) makes the same checks when the scenario opens it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BackendFactAttribute : FactAttribute
{
    public BackendFactAttribute(string backend)
    {
        Backend = backend;
        if (backend == "kernel" && KernelUnavailable.Value is { } why)
        {
            Skip = why;
        }
    }

    public string Backend { get; }

    private static readonly Lazy<string?> KernelUnavailable = new(() =>
    {
        var device = Environment.GetEnvironmentVariable("SPECKIT_KVM_DEVICE") is { Length: > 0 } path ? path : "/dev/kvm";
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            return "the kernel backend runs on x86-64 Linux only";
        }

        if (!File.Exists(device))
        {
            return $"{device} does not exist (no KVM on this machine)";
        }

        try
        {
            using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.ReadWrite);
            return null;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return $"{device} cannot be opened: {e.Message}";
        }
    });
}
