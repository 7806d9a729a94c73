using System.Globalization;

namespace SpecKit.Uapi;

/// <summary>
/// The errno values an ioctl or a memory call returns, as Linux defines them on x86-64
/// (include/uapi/asm-generic/errno-base.h and errno.h). Only the ones KVM and mm return to a
/// VMM are named; any other value still round-trips as its number.
/// </summary>
public enum Errno
{
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ENOTTY = 25,
    ENOSPC = 28,
    ENOSYS = 38,
    EOPNOTSUPP = 95,
    EHWPOISON = 133,
}

/// <summary>
/// What a call into the kernel returns: a value (zero or more), or <c>-errno</c>. This is the
/// kernel's own convention (an ioctl returns <c>r &lt; 0 ? -errno : r</c>), kept as data so that a
/// scenario asserts <c>-ENOENT</c> the way the kernel reports it, never as an exception.
/// </summary>
public readonly record struct KvmResult(long Raw)
{
    public static KvmResult Ok(long value = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        return new KvmResult(value);
    }

    public static KvmResult Fail(Errno errno) => new(-(long)errno);

    public bool IsOk => Raw >= 0;

    /// <summary>The errno when the call failed, null when it returned a value.</summary>
    public Errno? Errno => Raw < 0 ? (Errno)(int)-Raw : null;

    /// <summary>The value returned; reading it from a failed call is a bug in the caller.</summary>
    public long Value => Raw >= 0 ? Raw : throw new InvalidOperationException($"the call failed with {this}");

    public override string ToString() => Raw < 0 ? "-" + Errno : Raw.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A call that returns an object on success (a vCPU, a bitmap, an address) or <c>-errno</c>.</summary>
public readonly struct KvmResult<T>
{
    private readonly T? _value;

    private KvmResult(T? value, Errno? errno)
    {
        _value = value;
        Errno = errno;
    }

    public static KvmResult<T> Ok(T value) => new(value, null);

    public static KvmResult<T> Fail(Errno errno) => new(default, errno);

    public bool IsOk => Errno is null;

    public Errno? Errno { get; }

    public T Value => Errno is null ? _value! : throw new InvalidOperationException($"the call failed with -{Errno}");

    /// <summary>The bare result, as the ioctl's return value would read (0 or -errno).</summary>
    public KvmResult Result => Errno is { } e ? KvmResult.Fail(e) : KvmResult.Ok();

    public override string ToString() => Errno is { } e ? "-" + e : _value?.ToString() ?? "";
}
