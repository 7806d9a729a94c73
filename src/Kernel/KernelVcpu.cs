using System.Buffers.Binary;
using System.Diagnostics;
using SpecKit.Kernel.Guest;
using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// A vCPU fd with its kvm_run page, its dirty ring, its own mailbox in the system slot, and a
/// thread that runs KVM_RUN under a watchdog (<see cref="VcpuRunner"/>).
/// </summary>
internal sealed unsafe class KernelVcpu : IKvmVcpu, IDisposable
{
    // SDM Vol. 3A 2.5 (CR0, CR4) and 2.2.1 (IA32_EFER).
    private const ulong Cr0Pe = 1UL << 0;
    private const ulong Cr0Wp = 1UL << 16;
    private const ulong Cr0Pg = 1UL << 31;
    private const ulong Cr4Pae = 1UL << 5;
    private const ulong EferLme = 1UL << 8;
    private const ulong EferLma = 1UL << 10;
    private const ulong EferNxe = 1UL << 11;

    /// <summary>EFLAGS: bit 1 is always 1; IOPL (bits 13:12) 3 lets CPL 3 use OUT (SDM Vol. 1 3.4.3).</summary>
    private const ulong Rflags = 0x2;
    private const ulong RflagsIopl3 = 0x3000;

    private readonly KernelVm _vm;
    private readonly int _fd;
    private readonly byte* _run;
    private readonly int _runSize;
    private readonly byte* _mailbox;
    private readonly ulong _mailboxGpa;
    private readonly VcpuRunner _runner;
    private IReadOnlyList<GuestAccess>? _batch;
    private ulong _rflags = Rflags;
    private bool _mmioReadPending;
    private uint _mmioLen;

    public KernelVcpu(KernelVm vm, uint id, int fd, byte* run, int runSize, byte* mailbox, ulong mailboxGpa, DirtyRingMap? ring)
    {
        _vm = vm;
        Id = id;
        _fd = fd;
        _run = run;
        _runSize = runSize;
        _mailbox = mailbox;
        _mailboxGpa = mailboxGpa;
        Ring = ring;
        _runner = new VcpuRunner(fd, run, id);
    }

    public uint Id { get; }

    public DirtyRingMap? Ring { get; }

    public bool Wedged => _runner.Wedged;

    public VcpuExit Run(IReadOnlyList<GuestAccess> batch) => RunBatch(batch, spin: false);

    /// <summary>A batch whose last step loops forever: only for testing the watchdog.</summary>
    internal VcpuExit RunSpinning(IReadOnlyList<GuestAccess> batch) => RunBatch(batch, spin: true);

    public VcpuExit Resume(ulong mmioData = 0)
    {
        if (_runner.Wedged)
        {
            return new VcpuExit.TimedOut(_vm.RunTimeout, Wedged: true);
        }

        if (_batch is null)
        {
            return new VcpuExit.Refused($"vCPU {Id} has no batch in progress to resume");
        }

        if (_mmioReadPending)
        {
            // api.rst, KVM_EXIT_MMIO: for a read, userspace fills mmio.data and re-enters; KVM
            // completes the instruction with it.
            Span<byte> data = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(data, mmioData);
            data[..(int)_mmioLen].CopyTo(new Span<byte>(_run + KvmRun.MmioData, (int)_mmioLen));
            _mmioReadPending = false;
        }

        return Enter();
    }

    /// <summary>
    /// Turns paging on for the batch guest, which then makes its accesses through the page
    /// tables at <paramref name="cr3"/>: 4-level paging in IA-32e compatibility mode (EFER.LME,
    /// CR4.PAE, CR0.PG with the 32-bit code segment, CS.L = 0), so the code stays the same and
    /// the tables are the x86-64 ones the model walks (SDM Vol. 3A 4.5, 5.2.1). The caller builds
    /// the tables in guest memory, mapping the code and mailboxes at <see cref="BatchGuest.SystemGpa"/>
    /// at their own addresses; the batch's addresses are then linear ones. The IDT is empty
    /// (limit 0), so a fault is a triple fault: KVM_RUN ends with KVM_EXIT_SHUTDOWN
    /// (<see cref="VcpuExit.Unexpected"/>) and CR2 holds the faulting address.
    /// EFER.LME and EFER.NXE are valid only if the guest's CPUID has LM and NX (x86.c
    /// __kvm_valid_efer(); newer kernels check it in kvm_is_valid_sregs() too), and the walker
    /// takes its reserved bits from the guest's CPUID, so the vCPU first gets all of KVM's
    /// supported CPUID (<see cref="GuestCpuid"/>); KVM_SET_SREGS then resets the MMU for the new
    /// CR0, CR4 and EFER (__set_sregs_common()).
    /// </summary>
    internal KvmResult EnablePaging(ulong cr3, PagingControls controls = PagingControls.None)
    {
        if (GuestCpuid.SetAll(_fd) is { IsOk: false } cpuid)
        {
            return cpuid;
        }

        KvmSregs sregs;
        if (Libc.Ioctl(_fd, KvmIoctl.KVM_GET_SREGS, (nint)(&sregs)) < 0)
        {
            return KvmResult.Fail((Errno)Libc.Errno);
        }

        sregs.Cr3 = cr3;
        sregs.Cr4 |= Cr4Pae;
        sregs.Cr0 |= Cr0Pe | Cr0Pg | (controls.HasFlag(PagingControls.WriteProtect) ? Cr0Wp : 0);
        sregs.Efer |= EferLme | EferLma | (controls.HasFlag(PagingControls.NoExecute) ? EferNxe : 0);
        sregs.Idt = default;
        if (controls.HasFlag(PagingControls.User))
        {
            sregs.Cs = sregs.Cs with { Selector = (ushort)(sregs.Cs.Selector | 3), Dpl = 3 };
            sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = sregs.Ss with { Selector = (ushort)(sregs.Ss.Selector | 3), Dpl = 3 };
        }

        var result = Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_SET_SREGS, (nint)(&sregs)));
        if (result.IsOk && controls.HasFlag(PagingControls.User))
        {
            _rflags = Rflags | RflagsIopl3;
        }

        return result;
    }

    /// <summary>CR2: after a fault, the linear address that faulted.</summary>
    internal ulong Cr2
    {
        get
        {
            KvmSregs sregs;
            return Libc.Ioctl(_fd, KvmIoctl.KVM_GET_SREGS, (nint)(&sregs)) < 0
                ? throw new InvalidOperationException($"KVM_GET_SREGS: -{(Errno)Libc.Errno}")
                : sregs.Cr2;
        }
    }

    public IReadOnlyList<DirtyGfn> PeekDirtyRing() => Ring?.Peek() ?? [];

    public IReadOnlyList<DirtyGfn> HarvestDirtyRing(int max = int.MaxValue) => Ring?.Harvest(max) ?? [];

    public void Dispose()
    {
        _runner.Dispose();
        if (_runner.Wedged)
        {
            // The thread is still inside KVM_RUN and will read kvm_run when it returns: leave
            // the mapping (and the fd the ioctl holds) to the process.
            return;
        }

        Ring?.Dispose();
        Libc.Munmap((nint)_run, (nuint)_runSize);
        Libc.Close(_fd);
    }

    private VcpuExit RunBatch(IReadOnlyList<GuestAccess> batch, bool spin)
    {
        if (_runner.Wedged)
        {
            return new VcpuExit.TimedOut(_vm.RunTimeout, Wedged: true);
        }

        if (_batch is not null)
        {
            return new VcpuExit.Refused($"vCPU {Id} is in the middle of a batch; resume it first");
        }

        if (Check(batch, spin) is { } refusal)
        {
            return new VcpuExit.Refused(refusal);
        }

        WriteMailbox(batch, spin);
        var regs = new KvmRegs
        {
            Rip = BatchGuest.CodeGpa,
            Rflags = _rflags,
            Rcx = _mailboxGpa,
            Rsi = _mailboxGpa + BatchGuest.EntriesOffset,
        };
        if (Libc.Ioctl(_fd, KvmIoctl.KVM_SET_REGS, (nint)(&regs)) < 0)
        {
            return new VcpuExit.Failed(0, (Errno)Libc.Errno);
        }

        _batch = batch;
        return Enter();
    }

    private string? Check(IReadOnlyList<GuestAccess> batch, bool spin)
    {
        if (batch.Count + (spin ? 1 : 0) > BatchGuest.MaxAccesses)
        {
            return $"a batch holds at most {BatchGuest.MaxAccesses} accesses (the mailbox), not {batch.Count}";
        }

        foreach (var access in batch)
        {
            if (access.Width is not (1 or 2 or 4))
            {
                return $"{access}: the kernel backend's 32-bit guest accesses 1, 2 or 4 bytes";
            }

            if (access.Gpa + (ulong)access.Width > BatchGuest.GpaLimit)
            {
                return $"{access}: the kernel backend's guest runs without paging and reaches gpas below 4 GiB only";
            }

            if (BatchGuest.InSystemRange(access.Gpa, (ulong)access.Width))
            {
                return $"{access}: [0x{BatchGuest.SystemGpa:x}, 0x{BatchGuest.SystemGpa + BatchGuest.SystemSize:x}) holds the backend's guest code and mailboxes";
            }
        }

        return Ring is null ? null : CheckRingBudget(batch);
    }

    /// <summary>
    /// Never let the guest overflow the dirty ring. kvm_dirty_ring_push() WARNs on a full ring;
    /// on a host that emulates the guest the soft-full exit is only checked between emulation
    /// batches, so many writes in one KVM_RUN run straight past it. A batch runs only if every
    /// dirty event it could make fits in the free entries minus the reserved ones, so the ring
    /// is at most soft-full when it ends and the next KVM_RUN exits with KVM_EXIT_DIRTY_RING_FULL.
    /// A store can make one event per page it touches; a load only where the host maps guest
    /// memory (a read fault that maps a writable SPTE marks the page dirty in make_spte()).
    /// </summary>
    private string? CheckRingBudget(IReadOnlyList<GuestAccess> batch)
    {
        var readsDirty = _vm.Host.DirtyEvents != DirtyEventSource.EveryWriteInstruction;
        var events = batch.Sum(a => a.IsWrite || readsDirty ? a.Pages : 0);
        var reserved = _vm.Host.DirtyRingReservedEntries;
        var free = Ring!.Entries - Ring.Used;
        return events <= free - reserved
            ? null
            : $"the batch can make {events} dirty events, but vCPU {Id}'s ring has {free} of {Ring.Entries} entries free " +
              $"and {reserved} must stay free (kvm_dirty_ring_get_rsvd_entries()): harvest and KVM_RESET_DIRTY_RINGS first";
    }

    private void WriteMailbox(IReadOnlyList<GuestAccess> batch, bool spin)
    {
        var count = batch.Count + (spin ? 1 : 0);
        *(uint*)_mailbox = (uint)count;
        for (var i = 0; i < count; i++)
        {
            var entry = (uint*)(_mailbox + BatchGuest.EntriesOffset + (i * BatchGuest.EntrySize));
            if (i == batch.Count)
            {
                entry[0] = (uint)GuestOp.Spin;
                continue;
            }

            var access = batch[i];
            entry[0] = (uint)BatchGuest.OpOf(access);
            entry[1] = (uint)access.Gpa;
            entry[2] = (uint)access.Value;
            entry[3] = 0;
        }
    }

    private VcpuExit Enter()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (rc, errno, kicked) = _runner.Run(_vm.RunTimeout);
            if (rc < 0 && errno == (int)Errno.EINTR)
            {
                if (kicked)
                {
                    _batch = null;
                    return new VcpuExit.TimedOut(clock.Elapsed, _runner.Wedged);
                }

                // A signal that is not the watchdog's: KVM_RUN stopped with KVM_EXIT_INTR and
                // the guest state is intact, so enter again as a VMM does.
                continue;
            }

            return Decode(rc, errno);
        }
    }

    private VcpuExit Decode(int rc, int errno)
    {
        var reason = *(uint*)(_run + KvmRun.ExitReason);
        var access = CurrentAccess();
        if (rc < 0)
        {
            return reason == KvmExit.MemoryFault && errno == (int)Errno.EFAULT
                ? new VcpuExit.MemoryFault(access, Read64(KvmRun.MemoryFaultFlags), Read64(KvmRun.MemoryFaultGpa), Read64(KvmRun.MemoryFaultSize))
                : new VcpuExit.Failed(access, (Errno)errno);
        }

        switch (reason)
        {
            case KvmExit.Io when _run[KvmRun.IoDirection] == KvmExit.IoOut && *(ushort*)(_run + KvmRun.IoPort) == BatchGuest.DonePort:
                return Finish();
            case KvmExit.Mmio:
                var len = *(uint*)(_run + KvmRun.MmioLen);
                var isWrite = _run[KvmRun.MmioIsWrite] != 0;
                Span<byte> data = stackalloc byte[8];
                new ReadOnlySpan<byte>(_run + KvmRun.MmioData, 8).CopyTo(data);
                _mmioReadPending = !isWrite;
                _mmioLen = Math.Min(len, 8);
                return new VcpuExit.Mmio(access, Read64(KvmRun.MmioPhysAddr), len, isWrite, isWrite ? BinaryPrimitives.ReadUInt64LittleEndian(data) & LowBytes(len) : 0);
            case KvmExit.DirtyRingFull:
                return new VcpuExit.DirtyRingFull(access);
            default:
                _batch = null;
                return new VcpuExit.Unexpected(reason, Describe(reason));
        }
    }

    private VcpuExit.Done Finish()
    {
        var batch = _batch!;
        _batch = null;
        var values = new ulong[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            values[i] = batch[i].IsWrite
                ? batch[i].Value & LowBytes((uint)batch[i].Width)
                : ((uint*)(_mailbox + BatchGuest.EntriesOffset + (i * BatchGuest.EntrySize)))[2];
        }

        return new VcpuExit.Done(values);
    }

    /// <summary>EDI: the guest's index of the access it is performing.</summary>
    private int CurrentAccess()
    {
        KvmRegs regs;
        return Libc.Ioctl(_fd, KvmIoctl.KVM_GET_REGS, (nint)(&regs)) < 0 ? -1 : (int)(uint)regs.Rdi;
    }

    private string Describe(uint reason) => reason switch
    {
        KvmExit.Hlt => "KVM_EXIT_HLT: the guest halted outside a batch",
        KvmExit.Shutdown => "KVM_EXIT_SHUTDOWN: the guest triple-faulted",
        KvmExit.InternalError => $"KVM_EXIT_INTERNAL_ERROR, suberror {*(uint*)(_run + KvmRun.InternalSuberror)}",
        KvmExit.FailEntry => $"KVM_EXIT_FAIL_ENTRY, hardware_entry_failure_reason 0x{Read64(KvmRun.FailEntryReason):x}",
        KvmExit.Io => $"KVM_EXIT_IO on port 0x{*(ushort*)(_run + KvmRun.IoPort):x}",
        _ => "an exit the batch guest never asks for",
    };

    private ulong Read64(int offset) => *(ulong*)(_run + offset);

    private static ulong LowBytes(uint len) => len >= 8 ? ulong.MaxValue : (1UL << (int)(len * 8)) - 1;
}
