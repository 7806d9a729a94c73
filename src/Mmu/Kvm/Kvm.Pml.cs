namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// The CPU logs a write that set D on an SPTE (PML): with enable_pml, PML runs in a vCPU while
    /// any memslot logs dirty pages (kvm_mmu_update_cpu_dirty_logging() in x86.c counts
    /// nr_memslots_dirty_logging; vmx_update_cpu_dirty_logging() sets SECONDARY_EXEC_ENABLE_PML).
    /// A full log (PML_LOG_NR_ENTRIES) exits before the next entry (handle_pml_full), and that
    /// exit flushes the log (__vmx_handle_exit calls vmx_flush_pml_buffer).
    /// </summary>
    internal void PmlLogWrite(KvmVcpu vcpu, ulong gfn)
    {
        if (!EnablePml || !Memslots.Any(s => s.DirtyTracked))
        {
            return;
        }

        if (vcpu.PmlBuffer.Count == KvmVcpu.PmlLogNrEntries)
        {
            Log.Add($"vCPU {vcpu.Id}: PML log full, EXIT_REASON_PML_FULL");
            FlushPmlBuffer(vcpu);
        }

        vcpu.PmlBuffer.Add(gfn);
    }

    /// <summary>
    /// vmx_flush_pml_buffer() (vmx.c): each logged gpa, in the order the CPU wrote them, goes to
    /// kvm_vcpu_mark_page_dirty() as that vCPU, so into the dirty bitmap or the vCPU's ring; a gfn
    /// whose slot no longer logs is dropped there (mark_page_dirty_in_slot). Then the log is empty.
    /// </summary>
    public void FlushPmlBuffer(KvmVcpu vcpu)
    {
        if (vcpu.PmlBuffer.Count == 0)
        {
            return;
        }

        Log.Add($"vCPU {vcpu.Id}: PML log flushed: {string.Join(", ", vcpu.PmlBuffer.Select(g => $"0x{g:x}"))}");
        using (AsRunning(vcpu))
        {
            foreach (var gfn in vcpu.PmlBuffer)
            {
                if (FindSlot(gfn) is { } slot)
                {
                    MarkPageDirtyInSlot(slot, gfn);
                }
            }
        }

        vcpu.PmlBuffer.Clear();
    }

    /// <summary>
    /// kvm_arch_sync_dirty_log() (x86.c), before dirty pages are reported: with cpu_dirty_log_size,
    /// kick every vCPU, "KVM flushes the buffers on all VM-Exits", so every PML log is flushed.
    /// </summary>
    internal void SyncDirtyLog()
    {
        if (!EnablePml)
        {
            return;
        }

        foreach (var vcpu in Vcpus)
        {
            FlushPmlBuffer(vcpu);
        }
    }

    /// <summary>Whether a vCPU's unflushed PML log holds <paramref name="gfn"/>: the page is dirty, and will be in the log at the next flush.</summary>
    internal bool PmlLogged(ulong gfn) => EnablePml && Vcpus.Any(v => v.PmlBuffer.Contains(gfn));
}
