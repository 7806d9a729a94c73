using System.Runtime.InteropServices;

namespace SpecKit.Kernel.Native;

// The uAPI structs of include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h, field for
// field; KernelStructTests checks each size against the header's.

/// <summary>struct kvm_userspace_memory_region.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
}

/// <summary>struct kvm_userspace_memory_region2.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmUserspaceMemoryRegion2
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
    public ulong GuestMemfdOffset;
    public uint GuestMemfd;
    public uint Pad1;
    public fixed ulong Pad2[14];
}

/// <summary>struct kvm_dirty_log (for KVM_GET_DIRTY_LOG).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmDirtyLog
{
    public uint Slot;
    public uint Padding1;
    public nint DirtyBitmap;
}

/// <summary>struct kvm_clear_dirty_log.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmClearDirtyLog
{
    public uint Slot;
    public uint NumPages;
    public ulong FirstPage;
    public nint DirtyBitmap;
}

/// <summary>struct kvm_enable_cap.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmEnableCap
{
    public uint Cap;
    public uint Flags;
    public fixed ulong Args[4];
    public fixed byte Pad[64];
}

/// <summary>struct kvm_memory_attributes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmMemoryAttributes
{
    public ulong Address;
    public ulong Size;
    public ulong Attributes;
    public ulong Flags;
}

/// <summary>struct kvm_dirty_gfn: one entry of the mmap'd dirty ring.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmDirtyGfn
{
    /// <summary>KVM_DIRTY_GFN_F_DIRTY: KVM published the entry.</summary>
    public const uint FlagDirty = 1 << 0;

    /// <summary>KVM_DIRTY_GFN_F_RESET: userspace harvested it; KVM_RESET_DIRTY_RINGS may recycle it.</summary>
    public const uint FlagReset = 1 << 1;

    public uint Flags;
    public uint Slot;
    public ulong Offset;
}

/// <summary>struct kvm_stats_header.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmStatsHeader
{
    public uint Flags;
    public uint NameSize;
    public uint NumDesc;
    public uint IdOffset;
    public uint DescOffset;
    public uint DataOffset;
}

/// <summary>struct kvm_stats_desc, without its trailing name[name_size].</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmStatsDesc
{
    public uint Flags;
    public short Exponent;
    public ushort Size;
    public uint Offset;
    public uint BucketSize;
}

/// <summary>struct kvm_regs (x86).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
}

/// <summary>struct kvm_segment (x86).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type;
    public byte Present, Dpl, Db, S, L, G, Avl;
    public byte Unusable;
    public byte Padding;
}

/// <summary>struct kvm_dtable (x86).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    public fixed ushort Padding[3];
}

/// <summary>struct kvm_sregs (x86).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8;
    public ulong Efer;
    public ulong ApicBase;
    public fixed ulong InterruptBitmap[4];
}

/// <summary>struct kvm_cpuid_entry2 (x86).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmCpuidEntry2
{
    public uint Function;
    public uint Index;
    public uint Flags;
    public uint Eax, Ebx, Ecx, Edx;
    public fixed uint Padding[3];
}

/// <summary>struct kvm_cpuid2 (x86), without its trailing entries[nent].</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmCpuid2
{
    public uint Nent;
    public uint Padding;
}

/// <summary>
/// struct kvm_run, the vCPU fd's mmap'd page: the fields the backend reads and writes, by
/// offset (the exit union starts at 32 on x86).
/// </summary>
internal static class KvmRun
{
    public const int ImmediateExit = 1;
    public const int ExitReason = 8;

    // union: KVM_EXIT_IO
    public const int IoDirection = 32;
    public const int IoSize = 33;
    public const int IoPort = 34;
    public const int IoCount = 36;
    public const int IoDataOffset = 40;

    // union: KVM_EXIT_MMIO
    public const int MmioPhysAddr = 32;
    public const int MmioData = 40;
    public const int MmioLen = 48;
    public const int MmioIsWrite = 52;

    // union: KVM_EXIT_MEMORY_FAULT
    public const int MemoryFaultFlags = 32;
    public const int MemoryFaultGpa = 40;
    public const int MemoryFaultSize = 48;

    // union: KVM_EXIT_INTERNAL_ERROR
    public const int InternalSuberror = 32;

    // union: KVM_EXIT_FAIL_ENTRY
    public const int FailEntryReason = 32;
}

/// <summary>KVM_EXIT_* (include/uapi/linux/kvm.h).</summary>
internal static class KvmExit
{
    public const uint Unknown = 0;
    public const uint Exception = 1;
    public const uint Io = 2;
    public const uint Hlt = 5;
    public const uint Mmio = 6;
    public const uint Shutdown = 8;
    public const uint FailEntry = 9;
    public const uint Intr = 10;
    public const uint InternalError = 17;
    public const uint DirtyRingFull = 31;
    public const uint MemoryFault = 39;

    public const byte IoOut = 1;
}
