using SpecKit.Mmu.X86;
using SpecKit.Uapi;
using ModelAccess = SpecKit.Mmu.Guest.GuestAccess;
using UapiAccess = SpecKit.Uapi.GuestAccess;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// The model as userspace has it: <see cref="Kvm"/> behind the same <see cref="IKvmVm"/> the
/// kernel backend implements, so that one step vocabulary drives both. Every call is one call
/// of the model's own ioctl or access; this class only changes the shape of arguments and
/// results (raw slot ids, bitmaps, exits), never decides anything the kernel decides.
/// </summary>
public sealed class ModelVm : IKvmVm
{
    private readonly Dictionary<int, ModelVcpu> _vcpus = [];

    public ModelVm(Kvm kvm)
    {
        Kvm = kvm;
        Memory = new ModelMemory(kvm);
    }

    public Kvm Kvm { get; }

    /// <summary>
    /// The host the model is: SPTEs on EPT, NPT or shadow paging, whose first write after a page
    /// was (re-)protected logs it; or, with <see cref="Kvm.GuestRunsInEmulator"/>, a host that
    /// runs every guest instruction in KVM's emulator and never maps an SPTE.
    /// </summary>
    public HostTraits Host => new(
        $"the model ({Kvm.Model.Name}, {Kvm.Mmu.Kind}{(Kvm.GuestRunsInEmulator ? ", every access emulated" : "")})",
        Kvm.GuestRunsInEmulator ? DirtyEventSource.EveryWriteInstruction : DirtyEventSource.WriteFaultOrDirtyBit,
        StatsCountMappedPages: !Kvm.GuestRunsInEmulator,
        Kvm.GuestRunsInEmulator ? HostFaultExit.Mmio : HostFaultExit.MemoryFault,
        Kvm.DirtyRingRsvdEntries,
        TdpMmu: Kvm.Tdp is not null);

    public IUserspaceMemory Memory { get; }

    /// <summary>
    /// KVM_CHECK_EXTENSION for what the model has (kvm_vm_ioctl_check_extension_generic and
    /// kvm_vm_ioctl_check_extension); a capability the model does not model answers 0, as the
    /// kernel answers one it does not know.
    /// </summary>
    public KvmResult CheckExtension(KvmCap cap) => KvmResult.Ok(cap switch
    {
        KvmCap.UserMemory or KvmCap.SyncMmu or KvmCap.ImmediateExit or KvmCap.BinaryStatsFd => 1,
        KvmCap.ReadonlyMem => Kvm.IsMirrored ? 0 : 1,
        KvmCap.NrMemslots => Kvm.KvmUserMemSlots,
        KvmCap.MaxVcpus => Kvm.KvmMaxVcpus,
        KvmCap.MaxVcpuId => Kvm.KvmMaxVcpuIds,
        KvmCap.ManualDirtyLogProtect2 => (long)Kvm.ManualProtectCaps,
        KvmCap.DirtyLogRing => Kvm.DirtyRingMaxEntries * KvmDirtyGfn.Size,
        KvmCap.MultiAddressSpace => 0, // the model has no SMM address space
        _ => 0,
    });

    /// <summary>KVM_ENABLE_CAP for the capabilities the model takes; -EINVAL for others (kvm_vm_ioctl_enable_cap's default).</summary>
    public KvmResult EnableCap(KvmCap cap, ulong arg0) => Result(cap switch
    {
        KvmCap.ManualDirtyLogProtect2 => Kvm.EnableManualDirtyLogProtect((ManualDirtyLogProtect)arg0),
        KvmCap.DirtyLogRing => arg0 > uint.MaxValue ? -(int)Errno.EINVAL : Kvm.EnableDirtyRing((uint)arg0),
        KvmCap.DisableQuirks2 => Kvm.DisableQuirks((KvmX86Quirks)arg0),
        _ => -(int)Errno.EINVAL,
    });

    public KvmResult SetUserMemoryRegion(UserspaceMemoryRegion region) =>
        Result(Kvm.SetUserMemoryRegion(region.Slot.Raw, region.Flags, region.GuestPhysAddr, region.MemorySize, region.UserspaceAddr));

    public KvmResult SetUserMemoryRegion2(UserspaceMemoryRegion region) => SetUserMemoryRegion(region);

    public KvmResult<IKvmVcpu> CreateVcpu(uint id)
    {
        var result = Kvm.CreateVcpu(id, out var vcpu);
        return result == 0 ? KvmResult<IKvmVcpu>.Ok(Vcpu(vcpu!)) : KvmResult<IKvmVcpu>.Fail((Errno)(-result));
    }

    /// <summary>The uAPI face of a vCPU the model already has (made by a step before the scenario reached the uAPI).</summary>
    public IKvmVcpu Vcpu(KvmVcpu vcpu)
    {
        if (!_vcpus.TryGetValue(vcpu.Id, out var face))
        {
            face = new ModelVcpu(Kvm, vcpu);
            _vcpus[vcpu.Id] = face;
        }

        return face;
    }

    public KvmResult<DirtyBitmap> GetDirtyLog(MemslotId slot)
    {
        var result = Kvm.GetDirtyLog(slot.Raw, out var words);
        if (result != 0)
        {
            return KvmResult<DirtyBitmap>.Fail((Errno)(-result));
        }

        var npages = Kvm.SlotById(slot.Id)!.Npages;
        return KvmResult<DirtyBitmap>.Ok(new DirtyBitmap(npages, words));
    }

    public KvmResult ClearDirtyLog(MemslotId slot, ulong firstPage, uint numPages, DirtyBitmap bitmap)
    {
        // kvm_clear_dirty_log_protect() reads ALIGN(num_pages, BITS_PER_LONG) / 8 bytes of the bitmap.
        var words = new ulong[Math.Max(1, ((ulong)numPages + 63) / 64)];
        bitmap.Words.AsSpan(0, Math.Min(bitmap.Words.Length, words.Length)).CopyTo(words);
        return Result(Kvm.ClearDirtyLog(slot.Raw, firstPage, numPages, words));
    }

    public KvmResult ResetDirtyRings() => Result(Kvm.ResetDirtyRings());

    public KvmResult SetMemoryAttributes(ulong address, ulong size, ulong attributes, ulong flags = 0) =>
        Result(Kvm.SetMemoryAttributes(address, size, attributes, flags));

    /// <summary>KVM_GET_STATS_FD: x86's pages_4k, pages_2m and pages_1g count the leaf SPTEs by level (kvm_update_page_stats).</summary>
    public KvmResult<KvmStats> GetStats()
    {
        var leaves = Kvm.Mmu.Leaves().GroupBy(l => l.Level).ToDictionary(g => g.Key, g => (ulong)g.Count());
        KvmStat Pages(string name, int level) => new(name, KvmStatType.Instant, KvmStatUnit.None, 0, [leaves.GetValueOrDefault(level)]);
        return KvmResult<KvmStats>.Ok(new KvmStats("kvm-model", [Pages("pages_4k", 1), Pages("pages_2m", 2), Pages("pages_1g", 3)]));
    }

    public void Dispose()
    {
    }

    private static KvmResult Result(int rc) => rc >= 0 ? KvmResult.Ok(rc) : KvmResult.Fail((Errno)(-rc));
}

/// <summary>
/// A model vCPU behind <see cref="IKvmVcpu"/>: a batch is the model's accesses in order, one
/// <see cref="Kvm.Run"/> each. The model's memory is 8-byte words, so a narrower store is
/// merged into the word userspace sees there; an exit describes the guest's instruction (its
/// gpa, width and data), as kvm_run.mmio does.
/// </summary>
internal sealed class ModelVcpu(Kvm kvm, KvmVcpu vcpu) : IKvmVcpu
{
    private IReadOnlyList<UapiAccess> _batch = [];
    private readonly List<ulong> _values = [];
    private int _next;
    private bool _mmioRead;
    private bool _mmioWrite;
    private bool _inBatch;

    public uint Id => (uint)vcpu.Id;

    public VcpuExit Run(IReadOnlyList<UapiAccess> batch)
    {
        if (_inBatch)
        {
            return new VcpuExit.Refused($"vCPU {vcpu.Id} is in the middle of a batch; resume it first");
        }

        _batch = batch;
        _values.Clear();
        _next = 0;
        _mmioRead = false;
        return Continue();
    }

    public VcpuExit Resume(ulong mmioData = 0)
    {
        if (_mmioRead)
        {
            // complete_emulated_mmio(): the load completes with userspace's data.
            var access = _batch[_next];
            var word = kvm.CompleteMmioRead(vcpu, mmioData << Shift(access)) ?? throw new InvalidOperationException($"vCPU {vcpu.Id} has no MMIO read to complete");
            _values.Add((word >> Shift(access)) & Mask(access));
            _next++;
            _mmioRead = false;
        }
        else if (_mmioWrite)
        {
            // The VMM has emulated the store; the guest goes on after the instruction.
            _values.Add(_batch[_next].Value & Mask(_batch[_next]));
            _next++;
            _mmioWrite = false;
        }

        return Continue();
    }

    public IReadOnlyList<DirtyGfn> PeekDirtyRing() => [.. kvm.RingOf(vcpu).Peek().Select(Entry)];

    public IReadOnlyList<DirtyGfn> HarvestDirtyRing(int max = int.MaxValue) => [.. kvm.HarvestDirtyRing(vcpu, max).Select(Entry)];

    private static DirtyGfn Entry(KvmDirtyGfn entry) => new(MemslotId.FromRaw((uint)entry.Slot), entry.Offset);

    private VcpuExit Continue()
    {
        var exit = Step();
        _inBatch = exit is not (VcpuExit.Done or VcpuExit.Refused);
        return exit;
    }

    private VcpuExit Step()
    {
        for (; _next < _batch.Count; _next++)
        {
            var access = _batch[_next];
            if (access.Width is not (1 or 2 or 4 or 8) || (access.Gpa & 7) + (ulong)access.Width > 8)
            {
                return new VcpuExit.Refused($"{access}: the model's guest accesses stay within one 8-byte word");
            }

            var gpa = access.Gpa & ~7UL;
            var value = access.IsWrite
                ? (kvm.ReadHost(gpa) & ~(Mask(access) << Shift(access))) | ((access.Value & Mask(access)) << Shift(access))
                : 0;
            var result = kvm.Run(vcpu, kvm.AddressOf(gpa), ModelAccess.Of(access.IsWrite ? AccessKind.Write : AccessKind.Read), value);
            if (result.Completed)
            {
                _values.Add(access.IsWrite ? access.Value & Mask(access) : (result.Value >> Shift(access)) & Mask(access));
                continue;
            }

            switch (result.Exit)
            {
                case "KVM_EXIT_MMIO" when vcpu.LastMmio is { } mmio:
                    // Userspace completes the access; the next KVM_RUN goes on after it (complete_emulated_mmio).
                    _mmioWrite = mmio.IsWrite;
                    _mmioRead = !mmio.IsWrite;
                    return new VcpuExit.Mmio(_next, access.Gpa, (uint)access.Width, mmio.IsWrite, mmio.IsWrite ? access.Value & Mask(access) : 0);

                case "KVM_EXIT_DIRTY_RING_FULL":
                    return new VcpuExit.DirtyRingFull(_next);

                // kvm_handle_error_pfn() -> kvm_prepare_memory_fault_exit(): the faulting page, no flags for shared memory.
                case "-EFAULT" or "KVM_EXIT_MEMORY_FAULT":
                    return new VcpuExit.MemoryFault(_next, 0, access.Gpa & ~(UserspaceMemoryRegion.PageSize - 1), UserspaceMemoryRegion.PageSize);

                default:
                    return new VcpuExit.Unexpected(0, $"{access}: {result.Outcome} {result.Exit ?? result.PageFault?.ToString() ?? ""}".TrimEnd());
            }
        }

        return new VcpuExit.Done([.. _values]);
    }

    private static int Shift(UapiAccess access) => (int)(access.Gpa & 7) * 8;

    private static ulong Mask(UapiAccess access) => access.Width == 8 ? ulong.MaxValue : (1UL << (access.Width * 8)) - 1;
}

/// <summary>
/// The VMM's memory in the model (<see cref="Host.HostMm"/>): an hva is a user page number
/// shifted by the page size. mmap, munmap and mprotect reach KVM through the MMU notifier as
/// the kernel's would.
/// </summary>
internal sealed class ModelMemory(Kvm kvm) : IUserspaceMemory
{
    private const int PageShift = UserspaceMemoryRegion.PageShift;

    public KvmResult<ulong> Mmap(ulong length, bool transparentHugePages = false)
    {
        if (length == 0)
        {
            return KvmResult<ulong>.Fail(Errno.EINVAL);
        }

        var npages = (length + UserspaceMemoryRegion.PageSize - 1) >> PageShift;
        return KvmResult<ulong>.Ok(kvm.Host.Mmap(npages, transparentHugePages ? 2 : 1) << PageShift);
    }

    public KvmResult Munmap(ulong hva, ulong length)
    {
        if ((hva & (UserspaceMemoryRegion.PageSize - 1)) != 0 || length == 0)
        {
            return KvmResult.Fail(Errno.EINVAL);
        }

        kvm.Munmap(hva >> PageShift, (hva + length + UserspaceMemoryRegion.PageSize - 1) >> PageShift);
        return KvmResult.Ok();
    }

    /// <summary>mprotect(2): -EINVAL for an unaligned address or unknown bits, -ENOMEM where no VMA maps a page of the range (mprotect_fixup).</summary>
    public KvmResult Mprotect(ulong hva, ulong length, Prot prot)
    {
        if ((hva & (UserspaceMemoryRegion.PageSize - 1)) != 0 || (prot & ~(Prot.Read | Prot.Write | Prot.Exec)) != 0)
        {
            return KvmResult.Fail(Errno.EINVAL);
        }

        var end = (hva + length + UserspaceMemoryRegion.PageSize - 1) >> PageShift;
        for (var page = hva >> PageShift; page < end; page++)
        {
            if (kvm.Host.FindVma(page) is null)
            {
                return KvmResult.Fail(Errno.ENOMEM);
            }
        }

        for (var page = hva >> PageShift; page < end; page++)
        {
            kvm.Mprotect(page, prot);
        }

        return KvmResult.Ok();
    }

    /// <summary>A store by the VMM, word by word of the model's memory; -EFAULT where a page has no VMA or a read-only one.</summary>
    public KvmResult Write(ulong hva, ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length)
        {
            var address = hva + (ulong)i;
            var hvpn = address >> PageShift;
            var word = (int)((address & 0xfff) >> 3);
            var value = kvm.Host.Lookup(hvpn) is { } pte ? kvm.Host.Read(pte.Pfn, word) : 0;
            for (var shift = (int)(address & 7) * 8; shift < 64 && i < data.Length; shift += 8, i++)
            {
                value = (value & ~(0xffUL << shift)) | ((ulong)data[i] << shift);
            }

            if (!kvm.UserspaceWrite(hvpn, word, value))
            {
                return KvmResult.Fail(Errno.EFAULT);
            }
        }

        return KvmResult.Ok();
    }

    /// <summary>A load by the VMM: the host page's bytes, -EFAULT where no VMA holds the address.</summary>
    public KvmResult Read(ulong hva, Span<byte> data)
    {
        for (var i = 0; i < data.Length; i++)
        {
            var address = hva + (ulong)i;
            var hvpn = address >> PageShift;
            if (kvm.Host.FindVma(hvpn) is null || !kvm.Host.AccessibleVma(hvpn))
            {
                return KvmResult.Fail(Errno.EFAULT);
            }

            var word = kvm.Host.Lookup(hvpn) is { } pte ? kvm.Host.Read(pte.Pfn, (int)((address & 0xfff) >> 3)) : 0;
            data[i] = (byte)(word >> (int)((address & 7) * 8));
        }

        return KvmResult.Ok();
    }
}
