namespace SpecKit.Uapi;

/// <summary>PROT_* for mmap and mprotect.</summary>
[Flags]
public enum Prot
{
    None = 0,
    Read = 1,
    Write = 2,
    Exec = 4,
}

/// <summary>
/// The VMM's own memory: anonymous mappings that memslots point at (userspace_addr), and the
/// process's loads and stores to them. Addresses are host virtual addresses (hva).
/// </summary>
public interface IUserspaceMemory
{
    /// <summary>
    /// mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS): a new zeroed
    /// range. With <paramref name="transparentHugePages"/> it is 2 MiB aligned and
    /// madvise(MADV_HUGEPAGE)'d, so the host may back it with THPs.
    /// </summary>
    KvmResult<ulong> Mmap(ulong length, bool transparentHugePages = false);

    /// <summary>munmap(): the range is gone; a guest access through a memslot to it can no longer be served.</summary>
    KvmResult Munmap(ulong hva, ulong length);

    /// <summary>mprotect().</summary>
    KvmResult Mprotect(ulong hva, ulong length, Prot prot);

    /// <summary>A store by the VMM; -EFAULT where the store would fault (the range is unmapped or not writable).</summary>
    KvmResult Write(ulong hva, ReadOnlySpan<byte> data);

    /// <summary>A load by the VMM; -EFAULT where the load would fault.</summary>
    KvmResult Read(ulong hva, Span<byte> data);
}
