using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>
/// The VMM's anonymous memory, as real mappings of this process. Only ranges this object mapped
/// can be unmapped, protected, read or written through it, so that a scenario can never touch
/// the .NET runtime's own memory; a range outside them is a caller bug (ArgumentException).
///
/// munmap() keeps the address reserved: the range is replaced by a PROT_NONE mapping
/// (mmap MAP_FIXED), so that nothing else in this process can be mapped there while a memslot
/// still points at it. KVM sees the same invalidation (the old pages are unmapped, MMU notifiers
/// run) and a guest access finds no usable page, as after a real munmap; mprotect() of the range
/// answers -ENOMEM as for unmapped memory, and userspace loads and stores -EFAULT.
/// </summary>
internal sealed unsafe class ProcessMemory : IUserspaceMemory, IDisposable
{
    private const ulong PageSize = UserspaceMemoryRegion.PageSize;
    private const ulong HugePageSize = 2UL << 20;

    private readonly List<Region> _regions = [];
    private readonly int _pid = Libc.Getpid();

    public KvmResult<ulong> Mmap(ulong length, bool transparentHugePages = false)
    {
        if (length == 0)
        {
            return KvmResult<ulong>.Fail(Errno.EINVAL);
        }

        length = RoundUp(length, PageSize);
        var reserve = transparentHugePages ? length + HugePageSize : length;
        var addr = Libc.Mmap(0, (nuint)reserve, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        if (addr == Libc.MAP_FAILED)
        {
            return KvmResult<ulong>.Fail((Errno)Libc.Errno);
        }

        var start = (ulong)addr;
        if (transparentHugePages)
        {
            // A THP needs a 2 MiB aligned virtual range: map 2 MiB more and trim both ends.
            var aligned = RoundUp(start, HugePageSize);
            if (aligned > start)
            {
                Libc.Munmap((nint)start, (nuint)(aligned - start));
            }

            var end = start + reserve;
            if (end > aligned + length)
            {
                Libc.Munmap((nint)(aligned + length), (nuint)(end - (aligned + length)));
            }

            start = aligned;
            if (Libc.Madvise((nint)start, (nuint)length, Libc.MADV_HUGEPAGE) != 0)
            {
                var errno = (Errno)Libc.Errno;
                Libc.Munmap((nint)start, (nuint)length);
                return KvmResult<ulong>.Fail(errno);
            }
        }

        _regions.Add(new Region(start, length));
        return KvmResult<ulong>.Ok(start);
    }

    public KvmResult Munmap(ulong hva, ulong length)
    {
        // mm/mmap.c do_vmi_munmap(): an unaligned start or a zero length is -EINVAL.
        if ((hva & (PageSize - 1)) != 0 || length == 0)
        {
            return KvmResult.Fail(Errno.EINVAL);
        }

        length = RoundUp(length, PageSize);
        var region = Owner(hva, length);
        var addr = Libc.Mmap((nint)hva, (nuint)length, Libc.PROT_NONE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE | Libc.MAP_FIXED, -1, 0);
        if (addr == Libc.MAP_FAILED)
        {
            return KvmResult.Fail((Errno)Libc.Errno);
        }

        region.Unmap(hva, length);
        return KvmResult.Ok();
    }

    public KvmResult Mprotect(ulong hva, ulong length, Prot prot)
    {
        if ((hva & (PageSize - 1)) != 0)
        {
            return KvmResult.Fail(Errno.EINVAL);
        }

        length = RoundUp(length, PageSize);
        var region = Owner(hva, length);

        // mm/mprotect.c: a hole in the range is -ENOMEM.
        if (region.AnyUnmapped(hva, length))
        {
            return KvmResult.Fail(Errno.ENOMEM);
        }

        return Sys.Result(Libc.Mprotect((nint)hva, (nuint)length, (int)prot));
    }

    public KvmResult Write(ulong hva, ReadOnlySpan<byte> data)
    {
        fixed (byte* local = data)
        {
            return Transfer(hva, local, data.Length, write: true);
        }
    }

    public KvmResult Read(ulong hva, Span<byte> data)
    {
        fixed (byte* local = data)
        {
            return Transfer(hva, local, data.Length, write: false);
        }
    }

    /// <summary>Whether [hva, hva + length) lies in memory this object mapped (memslots must point there).</summary>
    public bool Owns(ulong hva, ulong length) => _regions.Any(r => r.Contains(hva, length));

    public void Dispose()
    {
        foreach (var region in _regions)
        {
            Libc.Munmap((nint)region.Start, (nuint)region.Length);
        }

        _regions.Clear();
    }

    private Region Owner(ulong hva, ulong length) =>
        _regions.FirstOrDefault(r => r.Contains(hva, length))
        ?? throw new ArgumentException($"[0x{hva:x}, 0x{hva + length:x}) is not memory this VM's userspace mapped");

    /// <summary>
    /// process_vm_readv/writev() on this process: an access that would fault is -EFAULT (a
    /// short transfer counts as one), never a SIGSEGV.
    /// </summary>
    private KvmResult Transfer(ulong hva, byte* local, int length, bool write)
    {
        Owner(hva, (ulong)length);
        var l = new Iovec { Base = (nint)local, Len = (nuint)length };
        var r = new Iovec { Base = (nint)hva, Len = (nuint)length };
        var n = write ? Libc.ProcessVmWritev(_pid, &l, 1, &r, 1, 0) : Libc.ProcessVmReadv(_pid, &l, 1, &r, 1, 0);
        return n < 0 ? KvmResult.Fail((Errno)Libc.Errno)
            : n < length ? KvmResult.Fail(Errno.EFAULT)
            : KvmResult.Ok();
    }

    private static ulong RoundUp(ulong value, ulong to) => (value + to - 1) & ~(to - 1);

    private sealed class Region(ulong start, ulong length)
    {
        private readonly HashSet<ulong> _unmappedPages = [];

        public ulong Start { get; } = start;

        public ulong Length { get; } = length;

        public bool Contains(ulong hva, ulong length) => hva >= Start && hva + length <= Start + Length && hva + length >= hva;

        public void Unmap(ulong hva, ulong length)
        {
            for (var page = hva; page < hva + length; page += PageSize)
            {
                _unmappedPages.Add(page);
            }
        }

        public bool AnyUnmapped(ulong hva, ulong length)
        {
            for (var page = hva; page < hva + length; page += PageSize)
            {
                if (_unmappedPages.Contains(page))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
