using System.Runtime.CompilerServices;
using SpecKit.Kernel.Native;

namespace SpecKit.Kernel.Tests;

/// <summary>
/// The structs and ioctl numbers against the header's own values: sizeof() and the _IO*()
/// numbers as gcc computes them from include/uapi/linux/kvm.h (Debian's linux-libc-dev 6.1),
/// and for what 6.1 lacks (kvm_userspace_memory_region2, kvm_memory_attributes,
/// kvm_run.memory_fault) the layout bindgen asserts from v6.15's header in rust-vmm's
/// kvm-bindings (x86_64/bindings.rs).
/// </summary>
[Trait("Category", "kernel")]
public sealed class NativeLayoutTests
{
    [Fact]
    public void Structs_have_the_headers_sizes()
    {
        Assert.Equal(32, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
        Assert.Equal(160, Unsafe.SizeOf<KvmUserspaceMemoryRegion2>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDirtyLog>());
        Assert.Equal(24, Unsafe.SizeOf<KvmClearDirtyLog>());
        Assert.Equal(104, Unsafe.SizeOf<KvmEnableCap>());
        Assert.Equal(32, Unsafe.SizeOf<KvmMemoryAttributes>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDirtyGfn>());
        Assert.Equal(24, Unsafe.SizeOf<KvmStatsHeader>());
        Assert.Equal(16, Unsafe.SizeOf<KvmStatsDesc>());
        Assert.Equal(144, Unsafe.SizeOf<KvmRegs>());
        Assert.Equal(24, Unsafe.SizeOf<KvmSegment>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDtable>());
        Assert.Equal(312, Unsafe.SizeOf<KvmSregs>());
        Assert.Equal(40, Unsafe.SizeOf<KvmCpuidEntry2>());
        Assert.Equal(8, Unsafe.SizeOf<KvmCpuid2>());
        Assert.Equal(152, Unsafe.SizeOf<Sigaction>());
    }

    [Fact]
    public void Ioctl_numbers_are_the_headers()
    {
        Assert.Equal((nuint)0xAE00, KvmIoctl.KVM_GET_API_VERSION);
        Assert.Equal((nuint)0xAE01, KvmIoctl.KVM_CREATE_VM);
        Assert.Equal((nuint)0xAE03, KvmIoctl.KVM_CHECK_EXTENSION);
        Assert.Equal((nuint)0xAE04, KvmIoctl.KVM_GET_VCPU_MMAP_SIZE);
        Assert.Equal((nuint)0xC008AE05, KvmIoctl.KVM_GET_SUPPORTED_CPUID);
        Assert.Equal((nuint)0xAE41, KvmIoctl.KVM_CREATE_VCPU);
        Assert.Equal((nuint)0x4010AE42, KvmIoctl.KVM_GET_DIRTY_LOG);
        Assert.Equal((nuint)0x4020AE46, KvmIoctl.KVM_SET_USER_MEMORY_REGION);
        Assert.Equal((nuint)0x40A0AE49, KvmIoctl.KVM_SET_USER_MEMORY_REGION2);
        Assert.Equal((nuint)0x4068AEA3, KvmIoctl.KVM_ENABLE_CAP);
        Assert.Equal((nuint)0xC018AEC0, KvmIoctl.KVM_CLEAR_DIRTY_LOG);
        Assert.Equal((nuint)0xAEC7, KvmIoctl.KVM_RESET_DIRTY_RINGS);
        Assert.Equal((nuint)0xAECE, KvmIoctl.KVM_GET_STATS_FD);
        Assert.Equal((nuint)0x4020AED2, KvmIoctl.KVM_SET_MEMORY_ATTRIBUTES);
        Assert.Equal((nuint)0xAE80, KvmIoctl.KVM_RUN);
        Assert.Equal((nuint)0x8090AE81, KvmIoctl.KVM_GET_REGS);
        Assert.Equal((nuint)0x4090AE82, KvmIoctl.KVM_SET_REGS);
        Assert.Equal((nuint)0x8138AE83, KvmIoctl.KVM_GET_SREGS);
        Assert.Equal((nuint)0x4138AE84, KvmIoctl.KVM_SET_SREGS);
        Assert.Equal((nuint)0x4008AE90, KvmIoctl.KVM_SET_CPUID2);
    }

    [Fact]
    public void Ioc_refuses_a_size_wider_than_its_14_bits() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Ioc.Encode(1, 0xAE, 0, 1 << 14));

    [Fact]
    public void Kvm_run_offsets_are_the_headers()
    {
        Assert.Equal(1, KvmRun.ImmediateExit);
        Assert.Equal(8, KvmRun.ExitReason);
        Assert.Equal(32, KvmRun.IoDirection);
        Assert.Equal(34, KvmRun.IoPort);
        Assert.Equal(40, KvmRun.IoDataOffset);
        Assert.Equal(32, KvmRun.MmioPhysAddr);
        Assert.Equal(40, KvmRun.MmioData);
        Assert.Equal(48, KvmRun.MmioLen);
        Assert.Equal(52, KvmRun.MmioIsWrite);
        Assert.Equal(32, KvmRun.MemoryFaultFlags);
        Assert.Equal(40, KvmRun.MemoryFaultGpa);
        Assert.Equal(48, KvmRun.MemoryFaultSize);
    }
}
