using System.Runtime.CompilerServices;

namespace SpecKit.Kernel.Native;

/// <summary>
/// Ioctl request numbers, computed as include/uapi/asm-generic/ioctl.h's _IOC() does: 8 bits of
/// number, 8 of type, 14 of argument size, 2 of direction (x86 uses the generic layout).
/// </summary>
internal static class Ioc
{
    private const int NrShift = 0;
    private const int TypeShift = NrShift + 8;
    private const int SizeShift = TypeShift + 8;
    private const int DirShift = SizeShift + 14;

    private const uint None = 0;
    private const uint Write = 1;
    private const uint Read = 2;

    public static nuint Encode(uint dir, uint type, uint nr, int size)
    {
        if (size >= 1 << 14)
        {
            throw new ArgumentOutOfRangeException(nameof(size), "_IOC_SIZEBITS is 14");
        }

        return (nuint)((dir << DirShift) | (type << TypeShift) | (nr << NrShift) | ((uint)size << SizeShift));
    }

    /// <summary>_IO(type, nr).</summary>
    public static nuint IO(uint type, uint nr) => Encode(None, type, nr, 0);

    /// <summary>_IOR(type, nr, T): the kernel writes a T.</summary>
    public static nuint IOR<T>(uint type, uint nr)
        where T : unmanaged => Encode(Read, type, nr, Unsafe.SizeOf<T>());

    /// <summary>_IOW(type, nr, T): the kernel reads a T.</summary>
    public static nuint IOW<T>(uint type, uint nr)
        where T : unmanaged => Encode(Write, type, nr, Unsafe.SizeOf<T>());

    /// <summary>_IOWR(type, nr, T).</summary>
    public static nuint IOWR<T>(uint type, uint nr)
        where T : unmanaged => Encode(Read | Write, type, nr, Unsafe.SizeOf<T>());
}

/// <summary>The KVM ioctls the backend issues, each defined as include/uapi/linux/kvm.h defines it.</summary>
internal static class KvmIoctl
{
    /// <summary>KVMIO.</summary>
    private const uint Kvmio = 0xAE;

    // ioctls for /dev/kvm fds
    public static readonly nuint KVM_GET_API_VERSION = Ioc.IO(Kvmio, 0x00);
    public static readonly nuint KVM_CREATE_VM = Ioc.IO(Kvmio, 0x01);
    public static readonly nuint KVM_CHECK_EXTENSION = Ioc.IO(Kvmio, 0x03);
    public static readonly nuint KVM_GET_VCPU_MMAP_SIZE = Ioc.IO(Kvmio, 0x04);
    public static readonly nuint KVM_GET_SUPPORTED_CPUID = Ioc.IOWR<KvmCpuid2>(Kvmio, 0x05);

    // ioctls for VM fds
    public static readonly nuint KVM_CREATE_VCPU = Ioc.IO(Kvmio, 0x41);
    public static readonly nuint KVM_GET_DIRTY_LOG = Ioc.IOW<KvmDirtyLog>(Kvmio, 0x42);
    public static readonly nuint KVM_SET_USER_MEMORY_REGION = Ioc.IOW<KvmUserspaceMemoryRegion>(Kvmio, 0x46);
    public static readonly nuint KVM_SET_USER_MEMORY_REGION2 = Ioc.IOW<KvmUserspaceMemoryRegion2>(Kvmio, 0x49);
    public static readonly nuint KVM_ENABLE_CAP = Ioc.IOW<KvmEnableCap>(Kvmio, 0xa3);
    public static readonly nuint KVM_CLEAR_DIRTY_LOG = Ioc.IOWR<KvmClearDirtyLog>(Kvmio, 0xc0);
    public static readonly nuint KVM_RESET_DIRTY_RINGS = Ioc.IO(Kvmio, 0xc7);
    public static readonly nuint KVM_GET_STATS_FD = Ioc.IO(Kvmio, 0xce);
    public static readonly nuint KVM_SET_MEMORY_ATTRIBUTES = Ioc.IOW<KvmMemoryAttributes>(Kvmio, 0xd2);

    // ioctls for vCPU fds
    public static readonly nuint KVM_RUN = Ioc.IO(Kvmio, 0x80);
    public static readonly nuint KVM_GET_REGS = Ioc.IOR<KvmRegs>(Kvmio, 0x81);
    public static readonly nuint KVM_SET_REGS = Ioc.IOW<KvmRegs>(Kvmio, 0x82);
    public static readonly nuint KVM_GET_SREGS = Ioc.IOR<KvmSregs>(Kvmio, 0x83);
    public static readonly nuint KVM_SET_SREGS = Ioc.IOW<KvmSregs>(Kvmio, 0x84);
    public static readonly nuint KVM_SET_CPUID2 = Ioc.IOW<KvmCpuid2>(Kvmio, 0x90);

    /// <summary>KVM_DIRTY_LOG_PAGE_OFFSET: the dirty ring is mmap'd at this page offset of the vCPU fd.</summary>
    public const long KVM_DIRTY_LOG_PAGE_OFFSET = 64;
}
