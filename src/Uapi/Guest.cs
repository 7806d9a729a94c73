using System.Globalization;

namespace SpecKit.Uapi;

public enum GuestAccessKind
{
    Read,
    Write,
}

/// <summary>
/// One guest memory access of a batch: a load or a store of <see cref="Width"/> bytes (1, 2, 4 or
/// 8) at guest physical address <see cref="Gpa"/>; a store writes <see cref="Value"/>. Each access is
/// one instruction of the guest, so each store is one write instruction.
/// </summary>
public readonly record struct GuestAccess(GuestAccessKind Kind, ulong Gpa, int Width, ulong Value)
{
    public static GuestAccess Write(ulong gpa, ulong value, int width = 4) => new(GuestAccessKind.Write, gpa, width, value);

    public static GuestAccess Read(ulong gpa, int width = 4) => new(GuestAccessKind.Read, gpa, width, 0);

    public bool IsWrite => Kind == GuestAccessKind.Write;

    /// <summary>How many pages the access touches (2 when it crosses a page boundary).</summary>
    public int Pages => (int)(((Gpa + (ulong)Width - 1) >> UserspaceMemoryRegion.PageShift) - (Gpa >> UserspaceMemoryRegion.PageShift)) + 1;

    public override string ToString() => IsWrite
        ? string.Create(CultureInfo.InvariantCulture, $"write{Width * 8} 0x{Value:x} to 0x{Gpa:x}")
        : string.Create(CultureInfo.InvariantCulture, $"read{Width * 8} 0x{Gpa:x}");
}

/// <summary>
/// How KVM_RUN came back to userspace while a vCPU ran a batch of <see cref="GuestAccess"/>es.
/// <c>Access</c> is the index in the batch of the access the exit belongs to (for an exit
/// before an access runs, the next one to run).
/// </summary>
public abstract record VcpuExit
{
    private VcpuExit()
    {
    }

    /// <summary>The batch ran to its end. <see cref="Values"/>[i] is what access i read, or what it wrote.</summary>
    public sealed record Done(IReadOnlyList<ulong> Values) : VcpuExit
    {
        public override string ToString() => "done: " + string.Join(", ", Values.Select(v => string.Create(CultureInfo.InvariantCulture, $"0x{v:x}")));
    }

    /// <summary>
    /// KVM_EXIT_MMIO: kvm_run.mmio.phys_addr, len, is_write and data. No memslot backs the gpa,
    /// or the access is a write to a KVM_MEM_READONLY slot. For a read, userspace's answer goes
    /// in through <see cref="IKvmVcpu.Resume"/>.
    /// </summary>
    public sealed record Mmio(int Access, ulong PhysAddr, uint Len, bool IsWrite, ulong Data) : VcpuExit
    {
        public override string ToString() => IsWrite
            ? string.Create(CultureInfo.InvariantCulture, $"KVM_EXIT_MMIO write {Len} bytes 0x{Data:x} at 0x{PhysAddr:x}")
            : string.Create(CultureInfo.InvariantCulture, $"KVM_EXIT_MMIO read {Len} bytes at 0x{PhysAddr:x}");
    }

    /// <summary>KVM_EXIT_DIRTY_RING_FULL: the vCPU's ring is soft-full; harvest, KVM_RESET_DIRTY_RINGS, then resume.</summary>
    public sealed record DirtyRingFull(int Access) : VcpuExit
    {
        public override string ToString() => "KVM_EXIT_DIRTY_RING_FULL";
    }

    /// <summary>KVM_RUN returned -EFAULT with exit_reason KVM_EXIT_MEMORY_FAULT (kvm_run.memory_fault: flags, gpa, size).</summary>
    public sealed record MemoryFault(int Access, ulong Flags, ulong Gpa, ulong Size) : VcpuExit
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"-EFAULT, KVM_EXIT_MEMORY_FAULT gpa 0x{Gpa:x} size 0x{Size:x} flags 0x{Flags:x}");
    }

    /// <summary>KVM_RUN returned -errno with no more specific exit.</summary>
    public sealed record Failed(int Access, Errno Errno) : VcpuExit
    {
        public override string ToString() => "-" + Errno;
    }

    /// <summary>An exit the batch does not expect (KVM_EXIT_SHUTDOWN, KVM_EXIT_INTERNAL_ERROR, ...): the guest is broken.</summary>
    public sealed record Unexpected(uint ExitReason, string Detail) : VcpuExit
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"exit {ExitReason}: {Detail}");
    }

    /// <summary>KVM_RUN did not come back in time; it was kicked out (-EINTR) or, if <see cref="Wedged"/>, never returned.</summary>
    public sealed record TimedOut(TimeSpan After, bool Wedged) : VcpuExit
    {
        public override string ToString() => Wedged ? $"wedged: KVM_RUN did not return after {After}" : $"timed out after {After}";
    }

    /// <summary>The backend did not run the batch: running it could break the host or the rules of this interface.</summary>
    public sealed record Refused(string Reason) : VcpuExit
    {
        public override string ToString() => "refused: " + Reason;
    }
}
