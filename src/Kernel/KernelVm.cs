using SpecKit.Kernel.Guest;
using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// A VM fd on the real kernel. Besides the scenario's memslots it holds one of its own, the
/// system slot (the last user slot id, at <see cref="BatchGuest.SystemGpa"/>, never logging),
/// with the guest's code and one mailbox per vCPU.
/// </summary>
public sealed unsafe class KernelVm : IKvmVm
{
    private readonly KernelKvm _kvm;
    private readonly ProcessMemory _memory = new();
    private readonly List<KernelVcpu> _vcpus = [];
    private readonly Dictionary<uint, ulong> _slotPages = [];
    private readonly byte* _system;
    private int _fd;
    private ulong? _ringBytes;

    internal KernelVm(KernelKvm kvm, int fd, HostTraits host)
    {
        _kvm = kvm;
        _fd = fd;
        Host = host;
        SystemSlot = new MemslotId((ushort)(CheckExtension(KvmCap.NrMemslots).Value - 1));

        var system = _memory.Mmap(BatchGuest.SystemSize).Value;
        _system = (byte*)system;
        BatchGuest.Code.CopyTo(new Span<byte>(_system, BatchGuest.Code.Length));
        var created = SetRegion(KvmIoctl.KVM_SET_USER_MEMORY_REGION, new UserspaceMemoryRegion(SystemSlot, MemoryRegionFlags.None, BatchGuest.SystemGpa, BatchGuest.SystemSize, system));
        if (!created.IsOk)
        {
            throw new InvalidOperationException($"the system slot cannot be created: {created}");
        }
    }

    public HostTraits Host { get; }

    public IUserspaceMemory Memory => _memory;

    /// <summary>The slot that holds the guest's code and mailboxes; scenarios cannot use its id or its gpas.</summary>
    public MemslotId SystemSlot { get; }

    /// <summary>How long one KVM_RUN may take before the watchdog kicks it out.</summary>
    public TimeSpan RunTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public KvmResult CheckExtension(KvmCap cap) => Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_CHECK_EXTENSION, (nint)(uint)cap));

    public KvmResult EnableCap(KvmCap cap, ulong arg0)
    {
        var enable = new KvmEnableCap { Cap = (uint)cap };
        enable.Args[0] = arg0;
        var result = Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_ENABLE_CAP, (nint)(&enable)));
        if (result.IsOk && cap is KvmCap.DirtyLogRing or KvmCap.DirtyLogRingAcqRel)
        {
            _ringBytes = arg0;
        }

        return result;
    }

    public KvmResult SetUserMemoryRegion(UserspaceMemoryRegion region) => SetRegion(KvmIoctl.KVM_SET_USER_MEMORY_REGION, Checked(region));

    public KvmResult SetUserMemoryRegion2(UserspaceMemoryRegion region) => SetRegion(KvmIoctl.KVM_SET_USER_MEMORY_REGION2, Checked(region));

    public KvmResult<IKvmVcpu> CreateVcpu(uint id)
    {
        if (_vcpus.Count == BatchGuest.MaxVcpus)
        {
            throw new NotSupportedException($"the kernel backend has mailboxes for {BatchGuest.MaxVcpus} vCPUs");
        }

        var fd = Libc.Ioctl(_fd, KvmIoctl.KVM_CREATE_VCPU, (nint)id);
        if (fd < 0)
        {
            return KvmResult<IKvmVcpu>.Fail((Errno)Libc.Errno);
        }

        var runSize = _kvm.VcpuMmapSize;
        var run = Libc.Mmap(0, (nuint)runSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
        if (run == Libc.MAP_FAILED)
        {
            var errno = (Errno)Libc.Errno;
            Libc.Close(fd);
            return KvmResult<IKvmVcpu>.Fail(errno);
        }

        DirtyRingMap? ring = null;
        if (_ringBytes is { } bytes)
        {
            var mapped = DirtyRingMap.Map(fd, bytes);
            if (!mapped.IsOk)
            {
                Libc.Munmap(run, (nuint)runSize);
                Libc.Close(fd);
                return KvmResult<IKvmVcpu>.Fail(mapped.Errno!.Value);
            }

            ring = mapped.Value;
        }

        EnterProtectedMode(fd);
        var index = _vcpus.Count;
        var mailboxGpa = BatchGuest.MailboxGpa(index);
        var vcpu = new KernelVcpu(this, id, fd, (byte*)run, runSize, _system + (mailboxGpa - BatchGuest.SystemGpa), mailboxGpa, ring);
        _vcpus.Add(vcpu);
        return KvmResult<IKvmVcpu>.Ok(vcpu);
    }

    public KvmResult<DirtyBitmap> GetDirtyLog(MemslotId slot)
    {
        // kvm_get_dirty_log_protect() copies kvm_dirty_bitmap_bytes(memslot) bytes: size the
        // buffer from the slot as this VM created it (one long for a slot it never created,
        // which the kernel answers before copying anything).
        var npages = _slotPages.GetValueOrDefault(slot.Raw);
        var words = new ulong[Math.Max(1, (npages + 63) / 64)];
        fixed (ulong* buffer = words)
        {
            var log = new KvmDirtyLog { Slot = slot.Raw, DirtyBitmap = (nint)buffer };
            var result = Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_GET_DIRTY_LOG, (nint)(&log)));
            return result.IsOk
                ? KvmResult<DirtyBitmap>.Ok(new DirtyBitmap(npages, npages == 0 ? [] : words))
                : KvmResult<DirtyBitmap>.Fail(result.Errno!.Value);
        }
    }

    public KvmResult ClearDirtyLog(MemslotId slot, ulong firstPage, uint numPages, DirtyBitmap bitmap)
    {
        // kvm_clear_dirty_log_protect() reads ALIGN(num_pages, BITS_PER_LONG) / 8 bytes.
        var words = new ulong[Math.Max(1, ((ulong)numPages + 63) / 64)];
        bitmap.Words.AsSpan(0, Math.Min(bitmap.Words.Length, words.Length)).CopyTo(words);
        fixed (ulong* buffer = words)
        {
            var clear = new KvmClearDirtyLog { Slot = slot.Raw, NumPages = numPages, FirstPage = firstPage, DirtyBitmap = (nint)buffer };
            return Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_CLEAR_DIRTY_LOG, (nint)(&clear)));
        }
    }

    public KvmResult ResetDirtyRings()
    {
        var result = Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_RESET_DIRTY_RINGS, 0));
        foreach (var vcpu in _vcpus)
        {
            vcpu.Ring?.AfterReset();
        }

        return result;
    }

    public KvmResult SetMemoryAttributes(ulong address, ulong size, ulong attributes, ulong flags = 0)
    {
        var attrs = new KvmMemoryAttributes { Address = address, Size = size, Attributes = attributes, Flags = flags };
        return Sys.Result(Libc.Ioctl(_fd, KvmIoctl.KVM_SET_MEMORY_ATTRIBUTES, (nint)(&attrs)));
    }

    public KvmResult<KvmStats> GetStats()
    {
        var statsFd = Libc.Ioctl(_fd, KvmIoctl.KVM_GET_STATS_FD, 0);
        if (statsFd < 0)
        {
            return KvmResult<KvmStats>.Fail((Errno)Libc.Errno);
        }

        try
        {
            return StatsFile.Read(statsFd);
        }
        finally
        {
            Libc.Close(statsFd);
        }
    }

    internal KernelVcpu Vcpu(uint id) => _vcpus.Single(v => v.Id == id);

    public void Dispose()
    {
        if (_fd < 0)
        {
            return;
        }

        foreach (var vcpu in _vcpus)
        {
            vcpu.Dispose();
        }

        Libc.Close(_fd);
        _fd = -1;
        if (_vcpus.All(v => !v.Wedged))
        {
            _memory.Dispose();
        }
    }

    private UserspaceMemoryRegion Checked(UserspaceMemoryRegion region)
    {
        if (region.MemorySize != 0)
        {
            // A memslot over memory this VM did not map would let the guest write into the
            // .NET runtime's; the system slot's range is the backend's.
            var page = UserspaceMemoryRegion.PageSize;
            var start = region.UserspaceAddr & ~(page - 1);
            if (!_memory.Owns(start, region.UserspaceAddr + region.MemorySize - start))
            {
                throw new ArgumentException($"memslot {region.Slot}: userspace_addr 0x{region.UserspaceAddr:x} + 0x{region.MemorySize:x} is not memory this VM's userspace mapped");
            }

            if (BatchGuest.InSystemRange(region.GuestPhysAddr, region.MemorySize))
            {
                throw new ArgumentException($"memslot {region.Slot}: [0x{BatchGuest.SystemGpa:x}, 0x{BatchGuest.SystemGpa + BatchGuest.SystemSize:x}) holds the backend's guest code and mailboxes");
            }
        }

        if (region.Slot == SystemSlot)
        {
            throw new ArgumentException($"memslot {SystemSlot} is the backend's system slot");
        }

        return region;
    }

    private KvmResult SetRegion(nuint request, UserspaceMemoryRegion region)
    {
        var v2 = new KvmUserspaceMemoryRegion2
        {
            Slot = region.Slot.Raw,
            Flags = (uint)region.Flags,
            GuestPhysAddr = region.GuestPhysAddr,
            MemorySize = region.MemorySize,
            UserspaceAddr = region.UserspaceAddr,
        };

        // kvm_userspace_memory_region is the first 32 bytes of kvm_userspace_memory_region2.
        var result = Sys.Result(Libc.Ioctl(_fd, request, (nint)(&v2)));
        if (result.IsOk)
        {
            if (region.MemorySize == 0)
            {
                _slotPages.Remove(region.Slot.Raw);
            }
            else
            {
                _slotPages[region.Slot.Raw] = region.Npages;
            }
        }

        return result;
    }

    /// <summary>Flat 32-bit protected mode: CR0.PE, 4 GiB code and data segments at base 0, no paging.</summary>
    private static void EnterProtectedMode(int vcpuFd)
    {
        KvmSregs sregs;
        if (Libc.Ioctl(vcpuFd, KvmIoctl.KVM_GET_SREGS, (nint)(&sregs)) < 0)
        {
            throw new InvalidOperationException($"KVM_GET_SREGS: -{(Errno)Libc.Errno}");
        }

        var data = new KvmSegment { Base = 0, Limit = 0xFFFF_FFFF, Selector = 0x10, Type = 0x3, Present = 1, Db = 1, S = 1, G = 1 };
        var code = data with { Selector = 0x8, Type = 0xB };
        sregs.Cs = code;
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = data;
        sregs.Cr0 |= 1;
        if (Libc.Ioctl(vcpuFd, KvmIoctl.KVM_SET_SREGS, (nint)(&sregs)) < 0)
        {
            throw new InvalidOperationException($"KVM_SET_SREGS: -{(Errno)Libc.Errno}");
        }
    }
}
