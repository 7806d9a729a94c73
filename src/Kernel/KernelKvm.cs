using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// /dev/kvm: the system fd. It creates <see cref="KernelVm"/>s and knows what kind of host it
/// is (<see cref="Host"/>, probed once per process on a throwaway VM).
/// </summary>
public sealed class KernelKvm : IDisposable
{
    /// <summary>/dev/kvm, or the path in SPECKIT_KVM_DEVICE (a path that does not exist runs the suite without the kernel).</summary>
    public static readonly string DevicePath = Environment.GetEnvironmentVariable("SPECKIT_KVM_DEVICE") is { Length: > 0 } path ? path : "/dev/kvm";

    /// <summary>KVM_API_VERSION, which has been 12 since 2007.</summary>
    public const int ApiVersion = 12;

    private static readonly Lazy<(KernelKvm? Kvm, string? Why)> Shared = new(OpenShared);

    private readonly Lazy<HostTraits> _host;
    private int _fd;

    private KernelKvm(int fd)
    {
        _fd = fd;
        VcpuMmapSize = Libc.Ioctl(fd, KvmIoctl.KVM_GET_VCPU_MMAP_SIZE, 0);
        _host = new Lazy<HostTraits>(() => HostProbe.Detect(this));
    }

    /// <summary>
    /// The process's /dev/kvm, opened once; null when it cannot be used, with the reason in
    /// <see cref="UnavailableReason"/> (tests skip with it).
    /// </summary>
    public static KernelKvm? Instance => Shared.Value.Kvm;

    public static string? UnavailableReason => Shared.Value.Why;

    /// <summary>What kind of host answers (probed on first use).</summary>
    public HostTraits Host => _host.Value;

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: the size of each vCPU's struct kvm_run mapping.</summary>
    internal int VcpuMmapSize { get; }

    internal int Fd => _fd;

    /// <summary>open(/dev/kvm) and KVM_GET_API_VERSION; -errno when it cannot be opened.</summary>
    public static KvmResult<KernelKvm> Open()
    {
        var fd = Libc.Open(DevicePath, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return KvmResult<KernelKvm>.Fail((Errno)Libc.Errno);
        }

        var version = Libc.Ioctl(fd, KvmIoctl.KVM_GET_API_VERSION, 0);
        if (version != ApiVersion)
        {
            Libc.Close(fd);
            return KvmResult<KernelKvm>.Fail(Errno.EINVAL);
        }

        return KvmResult<KernelKvm>.Ok(new KernelKvm(fd));
    }

    /// <summary>KVM_CHECK_EXTENSION on /dev/kvm: what the host supports before any VM exists.</summary>
    public KvmResult CheckExtension(KvmCap cap) => Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_CHECK_EXTENSION, (nint)(uint)cap));

    /// <summary>KVM_CREATE_VM (type 0, KVM_X86_DEFAULT_VM), with the backend's guest code and mailboxes in place.</summary>
    public KvmResult<KernelVm> CreateVm() => CreateVm(null);

    internal KvmResult<KernelVm> CreateVm(HostTraits? provisional)
    {
        var fd = Libc.Ioctl(_fd, KvmIoctl.KVM_CREATE_VM, 0);
        if (fd < 0)
        {
            return KvmResult<KernelVm>.Fail((Errno)Libc.Errno);
        }

        return KvmResult<KernelVm>.Ok(new KernelVm(this, fd, provisional ?? Host));
    }

    public void Dispose()
    {
        if (_fd >= 0 && !ReferenceEquals(this, Shared.Value.Kvm))
        {
            Libc.Close(_fd);
            _fd = -1;
        }
    }

    private static (KernelKvm?, string?) OpenShared()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            return (null, "the kernel backend runs on x86-64 Linux only");
        }

        if (!File.Exists(DevicePath))
        {
            return (null, $"{DevicePath} does not exist (no KVM on this machine)");
        }

        var opened = Open();
        return opened.IsOk
            ? (opened.Value, null)
            : (null, $"{DevicePath} cannot be opened: -{opened.Errno}");
    }
}

internal static class Sys
{
    /// <summary>An ioctl's return value as the kernel meant it: r, or -errno when r is -1.</summary>
    public static KvmResult Result(int rc) => rc >= 0 ? KvmResult.Ok(rc) : KvmResult.Fail((Errno)Libc.Errno);
}
