using System.Runtime.InteropServices;

namespace SpecKit.Kernel.Native;

/// <summary>
/// The libc calls the backend makes (glibc on x86-64). Each sets errno, read back with
/// <see cref="Marshal.GetLastPInvokeError"/>.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Name = "libc";

    public const int O_RDWR = 0x2;
    public const int O_CLOEXEC = 0x80000;

    public const int PROT_NONE = 0x0;
    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int PROT_EXEC = 0x4;

    public const int MAP_SHARED = 0x01;
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_FIXED = 0x10;
    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_NORESERVE = 0x4000;

    public static readonly nint MAP_FAILED = -1;

    public const int MADV_HUGEPAGE = 14;

    public const int SIGUSR1 = 10;
    public const int SIGUSR2 = 12;
    public const int SA_RESTART = 0x10000000;

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Name, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>ioctl(fd, request, arg): variadic in C; on x86-64 the third argument travels in a register either way.</summary>
    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint arg);

    [LibraryImport(Name, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Name, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport(Name, EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint addr, nuint length, int prot);

    [LibraryImport(Name, EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint addr, nuint length, int advice);

    [LibraryImport(Name, EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(int fd, void* buf, nuint count, long offset);

    [LibraryImport(Name, EntryPoint = "process_vm_readv", SetLastError = true)]
    public static partial nint ProcessVmReadv(int pid, Iovec* local, nuint liovcnt, Iovec* remote, nuint riovcnt, nuint flags);

    [LibraryImport(Name, EntryPoint = "process_vm_writev", SetLastError = true)]
    public static partial nint ProcessVmWritev(int pid, Iovec* local, nuint liovcnt, Iovec* remote, nuint riovcnt, nuint flags);

    [LibraryImport(Name, EntryPoint = "getpid")]
    public static partial int Getpid();

    [LibraryImport(Name, EntryPoint = "gettid")]
    public static partial int Gettid();

    [LibraryImport(Name, EntryPoint = "tgkill", SetLastError = true)]
    public static partial int Tgkill(int tgid, int tid, int sig);

    [LibraryImport(Name, EntryPoint = "sigaction", SetLastError = true)]
    public static partial int Sigaction(int sig, Sigaction* act, Sigaction* oldact);

    public static int Errno => Marshal.GetLastPInvokeError();
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Iovec
{
    public nint Base;
    public nuint Len;
}

/// <summary>glibc's struct sigaction on x86-64: handler, a 1024-bit sa_mask, sa_flags, sa_restorer.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Sigaction
{
    public nint Handler;
    public fixed ulong Mask[16];
    public int Flags;
    public nint Restorer;
}
