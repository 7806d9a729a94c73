namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// kvm_write_track_add_gfn() (page_track.c): count the GFN as write-tracked, disallow huge
    /// pages over it, and write-protect its SPTEs down to 4K (kvm_mmu_slot_gfn_write_protect),
    /// flushing if that changed anything. From here on a write to it is emulated.
    /// </summary>
    public void WriteTrackAddGfn(ulong gfn)
    {
        var slot = FindSlot(gfn) ?? throw new InvalidOperationException($"gfn 0x{gfn:x} is in no memslot");
        slot.UpdateWriteTrack(gfn, +1);
        Log.Add($"write tracking added for gfn 0x{gfn:x}");
        if (Mmu.WriteProtectGfn(gfn, 1))
        {
            FlushRemoteTlbs($"kvm_write_track_add_gfn 0x{gfn:x}");
        }

        AfterOperation("kvm_write_track_add_gfn");
    }

    /// <summary>kvm_write_track_remove_gfn(): the counts drop; SPTEs stay as they are until the next fault.</summary>
    public void WriteTrackRemoveGfn(ulong gfn)
    {
        var slot = FindSlot(gfn) ?? throw new InvalidOperationException($"gfn 0x{gfn:x} is in no memslot");
        slot.UpdateWriteTrack(gfn, -1);
        Log.Add($"write tracking removed for gfn 0x{gfn:x}");
    }

    /// <summary>
    /// page_fault_handle_page_track() returned RET_PF_WRITE_PROTECTED before the fast path, so the
    /// write is emulated: kvm_vcpu_write_guest() writes the host page and marks it dirty, and the
    /// page-track notifiers see the write (kvm_page_track_write).
    /// </summary>
    private ulong EmulateTrackedWrite(KvmVcpu vcpu, KvmMemorySlot slot, ulong gfn, string what)
    {
        if (Host.CopyOnWrite.Contains(gfn))
        {
            BreakCow(gfn);
        }

        var pfn = (Host.Lookup(gfn) ?? Host.FaultIn(gfn)).Pfn;
        Log.Add($"{what}: write-tracked, RET_PF_WRITE_PROTECTED, write emulated (kvm_page_track_write)");
        MarkPageDirtyInSlot(slot, gfn);
        RecordWrite(gfn, write: true);
        AfterOperation("x86_emulate_instruction");
        return pfn;
    }
}
