using SpecKit.Uapi;
namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// GFNs whose kvm_write_track_add_gfn() is between counting them and returning (the
    /// concurrent form, Concurrency.Operations.WriteTrackAdd): their SPTEs may still be writable
    /// until its write_protect_gfn() reaches them, so the checker holds them to it at its return.
    /// </summary>
    internal HashSet<ulong> WriteTrackBeingAdded { get; } = [];

    internal bool WriteTrackBeingAddedIn(ulong gfn, ulong pages) => WriteTrackBeingAdded.Count > 0 && WriteTrackBeingAdded.Any(g => g >= gfn && g < gfn + pages);

    /// <summary>
    /// kvm_write_track_add_gfn() (page_track.c): count the GFN as write-tracked, disallow huge
    /// pages over it, and write-protect its SPTEs down to 4K (kvm_mmu_slot_gfn_write_protect),
    /// flushing if that changed anything. From here on a write to it is emulated. -EINVAL where no
    /// memslot holds the GFN.
    /// </summary>
    public int WriteTrackAddGfn(ulong gfn)
    {
        if (FindSlot(gfn) is not { } slot)
        {
            return -(int)Errno.EINVAL;
        }

        slot.UpdateWriteTrack(gfn, +1);
        Log.Add($"write tracking added for gfn 0x{gfn:x}");
        if (Mmu.SlotGfnWriteProtect(slot, gfn, 1))
        {
            FlushRemoteTlbs($"kvm_write_track_add_gfn 0x{gfn:x}");
        }

        AfterOperation("kvm_write_track_add_gfn");
        return 0;
    }

    /// <summary>kvm_write_track_remove_gfn(): the counts drop; SPTEs stay as they are until the next fault.</summary>
    public int WriteTrackRemoveGfn(ulong gfn)
    {
        if (FindSlot(gfn) is not { } slot || !slot.IsWriteTracked(gfn))
        {
            return -(int)Errno.EINVAL;
        }

        slot.UpdateWriteTrack(gfn, -1);
        Log.Add($"write tracking removed for gfn 0x{gfn:x}");
        return 0;
    }
}
