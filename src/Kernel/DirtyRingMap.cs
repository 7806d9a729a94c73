using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// One vCPU's dirty ring, mmap'd from the vCPU fd at KVM_DIRTY_LOG_PAGE_OFFSET, read and written
/// as api.rst's "KVM_CAP_DIRTY_LOG_RING" prescribes: KVM publishes an entry by setting
/// KVM_DIRTY_GFN_F_DIRTY after filling it (release); userspace harvests in order from its own
/// fetch index, setting KVM_DIRTY_GFN_F_RESET; KVM_RESET_DIRTY_RINGS zeroes the flags of what it
/// recycled. The flags are read with acquire and written with release ordering, which
/// KVM_CAP_DIRTY_LOG_RING_ACQ_REL requires and plain KVM_CAP_DIRTY_LOG_RING tolerates.
/// </summary>
internal sealed unsafe class DirtyRingMap : IDisposable
{
    private readonly nint _base;
    private readonly ulong _bytes;
    private ulong _fetchIndex;
    private ulong _resetIndex;

    private DirtyRingMap(nint @base, ulong bytes)
    {
        _base = @base;
        _bytes = bytes;
        Entries = (int)(bytes / (ulong)sizeof(KvmDirtyGfn));
    }

    public int Entries { get; }

    /// <summary>
    /// Entries KVM has pushed and not yet recycled (its dirty_index - reset_index), as userspace
    /// can count them: harvested and not yet reset, plus published and not yet harvested.
    /// </summary>
    public int Used => (int)(_fetchIndex - _resetIndex) + Published(int.MaxValue).Count;

    public static KvmResult<DirtyRingMap> Map(int vcpuFd, ulong bytes)
    {
        var addr = Libc.Mmap(0, (nuint)bytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, vcpuFd, KvmIoctl.KVM_DIRTY_LOG_PAGE_OFFSET * (long)UserspaceMemoryRegion.PageSize);
        return addr == Libc.MAP_FAILED
            ? KvmResult<DirtyRingMap>.Fail((Errno)Libc.Errno)
            : KvmResult<DirtyRingMap>.Ok(new DirtyRingMap(addr, bytes));
    }

    public IReadOnlyList<DirtyGfn> Peek() => Published(int.MaxValue).Select(i => ToGfn(Entry(i))).ToList();

    public IReadOnlyList<DirtyGfn> Harvest(int max)
    {
        var harvested = new List<DirtyGfn>();
        foreach (var index in Published(max))
        {
            var entry = Entry(index);
            harvested.Add(ToGfn(entry));
            Volatile.Write(ref entry->Flags, KvmDirtyGfn.FlagReset);
            _fetchIndex = index + 1;
        }

        return harvested;
    }

    /// <summary>
    /// After KVM_RESET_DIRTY_RINGS: every entry KVM recycled has flags 0 again
    /// (kvm_dirty_gfn_set_invalid()); the ones it did not (a reset can stop early) keep RESET.
    /// </summary>
    public void AfterReset()
    {
        while (_resetIndex < _fetchIndex && Volatile.Read(ref Entry(_resetIndex)->Flags) == 0)
        {
            _resetIndex++;
        }
    }

    public void Dispose() => Libc.Munmap(_base, (nuint)_bytes);

    private List<ulong> Published(int max)
    {
        var indices = new List<ulong>();
        for (var index = _fetchIndex; indices.Count < max && index - _resetIndex < (ulong)Entries; index++)
        {
            if ((Volatile.Read(ref Entry(index)->Flags) & (KvmDirtyGfn.FlagDirty | KvmDirtyGfn.FlagReset)) != KvmDirtyGfn.FlagDirty)
            {
                break;
            }

            indices.Add(index);
        }

        return indices;
    }

    private KvmDirtyGfn* Entry(ulong index) => (KvmDirtyGfn*)_base + (index & (ulong)(Entries - 1));

    private static DirtyGfn ToGfn(KvmDirtyGfn* entry) => new(MemslotId.FromRaw(entry->Slot), entry->Offset);
}
