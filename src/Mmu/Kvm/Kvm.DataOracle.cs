namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    // The last value stored to each word of each user page, by the address userspace sees
    // (userspace_addr + offset), never by the host page an SPTE happens to map: what a VMM
    // expects to read back. Kept only while the checker runs.
    private readonly Dictionary<(ulong Hvpn, int Word), ulong> _lastStored = [];

    /// <summary>A store to <paramref name="gpa"/> that reached memory: a guest's, the emulator's, the walker's A/D update, or the VMM's.</summary>
    internal void RecordStore(KvmMemorySlot slot, ulong gpa, ulong value)
    {
        if (CheckEveryOperation)
        {
            _lastStored[(slot.GfnToHvpn(gpa >> 12), WordIndex(gpa))] = value;
        }
    }

    /// <summary>
    /// guest_memfd's page behind private <paramref name="gfn"/> was freed (kvm_gmem_punch_hole
    /// truncates it; the next private access gets a fresh, zeroed page): what was stored there is gone.
    /// </summary>
    internal void ForgetStores(ulong gfn)
    {
        if (CheckEveryOperation && FindSlot(gfn) is { } slot)
        {
            var hvpn = slot.GfnToHvpn(gfn);
            for (var word = 0; word < 512; word++)
            {
                _lastStored.Remove((hvpn, word));
            }
        }
    }

    /// <summary>
    /// Checker rule "guest read another page's data": a guest load returns what was last stored
    /// to that word of the user page its memslot maps there (__gfn_to_hva_memslot), whatever
    /// the MMU mapped. A huge SPTE over a misaligned slot, an SPTE left behind by a move, a zap
    /// that missed a host page change all break it; migration, KSM, copy-on-write and swap keep
    /// the data and so do not.
    /// </summary>
    internal void CheckLoad(ulong gpa, ulong value)
    {
        if (!CheckEveryOperation || FindSlot(gpa >> 12) is not { } slot)
        {
            return;
        }

        var hvpn = slot.GfnToHvpn(gpa >> 12);
        if (_lastStored.TryGetValue((hvpn, WordIndex(gpa)), out var stored) && stored != value)
        {
            Violate("guest read another page's data", $"a load at gpa 0x{gpa:x} (user page 0x{hvpn:x}) returned 0x{value:x}, but 0x{stored:x} was stored there last");
        }
    }

    /// <summary>
    /// A store by the VMM to word <paramref name="word"/> of its user page <paramref name="hvpn"/>:
    /// a write fault on the host (a copy-on-write page is broken first, through the MMU
    /// notifier; a swapped-out page comes back); false where no VMA, or only a read-only one,
    /// is there. KVM logs nothing: the VMM's own stores are not dirty-logged.
    /// </summary>
    public bool UserspaceWrite(ulong hvpn, int word, ulong value)
    {
        if (Host.FindVma(hvpn) is null || !Host.WritableVma(hvpn) || !Host.AccessibleVma(hvpn))
        {
            return false;
        }

        if (Host.CopyOnWrite.Contains(hvpn) && Host.FaultIn(hvpn) is not null)
        {
            BreakCow(hvpn);
        }

        if (Host.FaultIn(hvpn) is not { } pte)
        {
            return false;
        }

        Host.Write(pte.Pfn, word, value);
        if (CheckEveryOperation)
        {
            _lastStored[(hvpn, word)] = value;
        }

        return true;
    }

    /// <summary>munmap: the user pages' data is gone with them.</summary>
    private void ForgetStores(ulong start, ulong end)
    {
        foreach (var key in _lastStored.Keys.Where(k => k.Hvpn >= start && k.Hvpn < end).ToList())
        {
            _lastStored.Remove(key);
        }
    }
}
