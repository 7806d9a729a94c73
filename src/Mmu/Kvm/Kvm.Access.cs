using SpecKit.Mmu.Guest;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Kvm;

/// <summary>
/// What one guest access came to: done (a read gives the value it loaded), emulated by KVM, a
/// #PF the guest takes (shadow paging), or an exit to userspace; with how many faults into KVM
/// it took and whether the TLB had it.
/// </summary>
public sealed record GuestAccessResult(ulong Address, GuestAccess Access, AccessOutcome Outcome, ulong Gpa, ulong HostPfn, ulong Value, int KvmPageFaults, bool TlbHit, GuestPageFault? PageFault, string? Exit)
{
    public bool Faulted => PageFault is not null;

    public bool Completed => Outcome is AccessOutcome.Done or AccessOutcome.Emulate && Exit is null;
}

public sealed partial class Kvm
{
    /// <summary>Under shadow paging, where the guest maps all of guest-physical memory (Linux's direct map, page_offset_base).</summary>
    public const ulong DirectMapBase = 0xffff_8880_0000_0000;

    /// <summary>
    /// A vCPU runs one guest access to <paramref name="address"/> (a GPA under TDP; under shadow
    /// paging a GVA the guest's tables translate) and stores <paramref name="value"/> or loads
    /// the 8-byte word there. Before the guest runs, a soft-full dirty ring exits with
    /// KVM_EXIT_DIRTY_RING_FULL (kvm_dirty_ring_check_request). The MMU takes the access through
    /// the TLB, its page tables and its fault handler; what it cannot complete, KVM emulates
    /// (x86_emulate_instruction): a write to guest memory with kvm_vcpu_write_guest() (the page
    /// marked dirty, page tracking told), and an access no memslot backs, or a write to a
    /// read-only slot, as KVM_EXIT_MMIO for userspace.
    /// </summary>
    public GuestAccessResult Run(KvmVcpu vcpu, ulong address, GuestAccess access, ulong value = 0)
    {
        if (vcpu.Paused)
        {
            throw new InvalidOperationException($"vCPU {vcpu.Id} is paused: a paused vCPU runs no guest code");
        }

        using (AsRunning(vcpu))
        {
            return RunAsRunning(vcpu, address, access, value);
        }
    }

    /// <summary>
    /// Runs what a vCPU's own ioctl or exit handler does (INVLPG, a CR write, a TLB flush, the
    /// root load before entry) as that vCPU: vcpu_load() makes it kvm_get_running_vcpu(), which
    /// mark_page_dirty_in_slot() pushes a ring entry to (kvm_main.c).
    /// </summary>
    internal RunningScope AsRunning(KvmVcpu vcpu) => new(this, vcpu);

    /// <summary>vcpu_load() to vcpu_put(): <see cref="RunningVcpu"/> for the scope, then the outer one again.</summary>
    internal readonly struct RunningScope : IDisposable
    {
        private readonly Kvm _kvm;
        private readonly KvmVcpu? _outer;

        public RunningScope(Kvm kvm, KvmVcpu vcpu)
        {
            _kvm = kvm;
            _outer = kvm.RunningVcpu;
            kvm.RunningVcpu = vcpu;
        }

        public void Dispose() => _kvm.RunningVcpu = _outer;
    }

    private GuestAccessResult RunAsRunning(KvmVcpu vcpu, ulong address, GuestAccess access, ulong value)
    {
        vcpu.LastExit = null;
        vcpu.LastMmio = null;
        if (DirtyRing is not null && RingOf(vcpu).SoftFull)
        {
            Log.Add($"vCPU {vcpu.Id} {access} 0x{address:x}: KVM_EXIT_DIRTY_RING_FULL ({RingOf(vcpu).Used} of {RingOf(vcpu).Size} entries used)");
            vcpu.LastExit = "KVM_EXIT_DIRTY_RING_FULL";
            return new GuestAccessResult(address, access, AccessOutcome.Exit, 0, 0, 0, 0, false, null, vcpu.LastExit);
        }

        var write = access.Kind == GuestAccessKind.Write;
        if (GuestRunsInEmulator)
        {
            var exit = Emulate(vcpu, $"vCPU {vcpu.Id} {access} 0x{address:x}", address, write, ref value);
            AfterOperation("x86_emulate_instruction");
            return new GuestAccessResult(address, access, AccessOutcome.Emulate, address, 0, value, 0, false, null, exit);
        }

        return Finish(vcpu, address, access, value, Mmu.Access(vcpu, address, access));
    }

    /// <summary>
    /// What KVM_RUN does once the MMU has taken the access: the load or store through the host
    /// page it completed to, the emulation of one it could not, or the exit; then the checker.
    /// The concurrent shadow access (ShadowMmu.AccessConcurrently) ends here too.
    /// </summary>
    internal GuestAccessResult Finish(KvmVcpu vcpu, ulong address, GuestAccess access, ulong value, MmuAccess mmu)
    {
        var write = access.Kind == GuestAccessKind.Write;
        switch (mmu.Outcome)
        {
            case AccessOutcome.Done:
            {
                var word = WordIndex(mmu.Gpa);
                if (write)
                {
                    Host.Write(mmu.HostPfn, word, value);
                    if (FindSlot(mmu.Gpa >> 12) is { } slot)
                    {
                        RecordStore(slot, mmu.Gpa, value);
                    }

                    CheckWriteLogged(mmu.Gpa >> 12);
                }
                else
                {
                    value = Host.Read(mmu.HostPfn, word);
                    CheckLoad(mmu.Gpa, value);
                }

                AfterOperation($"vCPU {vcpu.Id} {access}");
                return new GuestAccessResult(address, access, mmu.Outcome, mmu.Gpa, mmu.HostPfn, value, mmu.KvmPageFaults, mmu.TlbHit, null, null);
            }

            case AccessOutcome.Emulate:
            {
                var exit = Emulate(vcpu, $"vCPU {vcpu.Id} {access} 0x{address:x}", mmu.Gpa, write, ref value);
                AfterOperation("x86_emulate_instruction");
                return new GuestAccessResult(address, access, mmu.Outcome, mmu.Gpa, 0, value, mmu.KvmPageFaults, false, null, exit);
            }

            case AccessOutcome.Exit:
                vcpu.LastExit = mmu.Exit;
                AfterOperation($"vCPU {vcpu.Id} {access}");
                return new GuestAccessResult(address, access, mmu.Outcome, mmu.Gpa, 0, 0, mmu.KvmPageFaults, false, null, mmu.Exit);

            default:
                AfterOperation($"vCPU {vcpu.Id} {access}");
                return new GuestAccessResult(address, access, mmu.Outcome, mmu.Gpa, 0, 0, mmu.KvmPageFaults, false, mmu.PageFault, null);
        }
    }

    /// <summary>
    /// x86_emulate_instruction() for the one load or store the access was: guest memory through
    /// the memslot (emulator_read_write: kvm_vcpu_read_guest / kvm_vcpu_write_guest, and for a
    /// write mark_page_dirty and kvm_page_track_write), or, where no memslot backs the GPA or the
    /// slot is read-only for a store, KVM_EXIT_MMIO with the access for userspace.
    /// </summary>
    private string? Emulate(KvmVcpu vcpu, string what, ulong gpa, bool write, ref ulong value)
    {
        var gfn = gpa >> 12;
        var slot = FindSlot(gfn);
        if (slot is null || (write && slot.ReadOnly))
        {
            vcpu.LastMmio = new MmioExit(gpa & ~7UL, 8, write, write ? value : 0);
            vcpu.LastExit = "KVM_EXIT_MMIO";
            Log.Add($"{what}: {vcpu.LastMmio}");
            value = 0;
            return vcpu.LastExit;
        }

        if (!write)
        {
            var read = ReadGuestPhys(gpa);
            if (GuestRunsInEmulator && read is null)
            {
                return HostFaultAsMmio(vcpu, what, gpa, write, ref value);
            }

            value = read ?? 0;
            CheckLoad(gpa, value);
            Log.Add($"{what}: x86_emulate_instruction reads gpa 0x{gpa:x}");
            return null;
        }

        if (!WriteGuestPhys(slot, gpa, value))
        {
            if (GuestRunsInEmulator)
            {
                return HostFaultAsMmio(vcpu, what, gpa, write, ref value);
            }

            vcpu.LastExit = "-EFAULT";
            Log.Add($"{what}: x86_emulate_instruction finds no host page behind gpa 0x{gpa:x}, KVM_RUN returns -EFAULT");
            return vcpu.LastExit;
        }

        Log.Add($"{what}: x86_emulate_instruction writes 0x{value:x} to gpa 0x{gpa:x}");
        MarkPageDirtyInSlot(slot, gfn);
        Mmu.TrackWrite(vcpu, gpa);
        CheckWriteLogged(gfn);
        return null;
    }

    /// <summary>
    /// A host that runs every guest instruction in KVM's emulator (a PVM build with
    /// tdp_mmu=N): no SPTE is ever made, each load and store goes through
    /// kvm_vcpu_read_guest()/kvm_vcpu_write_guest(), and each store marks its page dirty
    /// (mark_page_dirty), so every store instruction is one dirty event. Only under TDP, where
    /// the guest's address is its gpa.
    /// </summary>
    public bool GuestRunsInEmulator
    {
        get => _guestRunsInEmulator;
        set => _guestRunsInEmulator = !value || Shadow is null ? value : throw new InvalidOperationException("the emulating host is modelled for TDP VMs, whose guests address gpas");
    }

    private bool _guestRunsInEmulator;

    /// <summary>
    /// emulator_read_write_onepage(): when kvm_vcpu_read/write_guest() fails on the host
    /// memory behind a memslot (munmap'ed, PROT_NONE, or read-only under a store), the access
    /// goes to userspace as MMIO.
    /// </summary>
    private string HostFaultAsMmio(KvmVcpu vcpu, string what, ulong gpa, bool write, ref ulong value)
    {
        vcpu.LastMmio = new MmioExit(gpa & ~7UL, 8, write, write ? value : 0);
        vcpu.LastExit = "KVM_EXIT_MMIO";
        Log.Add($"{what}: kvm_vcpu_{(write ? "write" : "read")}_guest fails on the host page, {vcpu.LastMmio}");
        value = 0;
        return vcpu.LastExit;
    }

    /// <summary>
    /// kvm_vcpu_write_guest() through the memslot's user page: a write fault on the host (a
    /// copy-on-write page is broken first, a swapped page comes back); false where no VMA or a
    /// read-only one is behind it.
    /// </summary>
    internal bool WriteGuestPhys(KvmMemorySlot slot, ulong gpa, ulong value)
    {
        var hvpn = slot.GfnToHvpn(gpa >> 12);
        if (!Host.WritableVma(hvpn))
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

        Host.Write(pte.Pfn, WordIndex(gpa), value);
        RecordStore(slot, gpa, value);
        return true;
    }

    /// <summary>kvm_vcpu_read_guest(): the word at <paramref name="gpa"/> through its memslot, or null where no memslot or host page is behind it.</summary>
    internal ulong? ReadGuestPhys(ulong gpa) =>
        FindSlot(gpa >> 12) is { } slot && Host.FaultIn(slot.GfnToHvpn(gpa >> 12)) is { } pte ? Host.Read(pte.Pfn, WordIndex(gpa)) : null;

    /// <summary>
    /// A vCPU touches guest frame <paramref name="gfn"/> (<paramref name="access"/>): under TDP the
    /// GPA itself; under shadow paging through the guest's direct map. Returns the host page the
    /// access went to, or null when it exited to userspace, was emulated or waits for an
    /// invalidation.
    /// </summary>
    public ulong? Access(KvmVcpu vcpu, ulong gfn, AccessKind access)
    {
        var result = Run(vcpu, AddressOf(gfn << 12), GuestAccess.Of(access));
        return result.Outcome == AccessOutcome.Done ? result.HostPfn : null;
    }

    /// <summary>
    /// KVM_RUN after a KVM_EXIT_MMIO read: userspace has put the data in run->mmio.data, and the
    /// emulated load completes with it (complete_emulated_mmio). Returns the value the guest
    /// loaded, or null when the vCPU's last exit was not an MMIO read.
    /// </summary>
    public ulong? CompleteMmioRead(KvmVcpu vcpu, ulong data)
    {
        if (vcpu.LastMmio is not { IsWrite: false } mmio)
        {
            return null;
        }

        vcpu.LastMmio = null;
        vcpu.LastExit = null;
        Log.Add($"vCPU {vcpu.Id}: KVM_RUN completes the MMIO read of gpa 0x{mmio.Gpa:x} with 0x{data:x} (complete_emulated_mmio)");
        return data;
    }

    /// <summary>A vCPU stores <paramref name="value"/> at <paramref name="gpa"/> (8-byte aligned); false when the store did not complete.</summary>
    public bool WriteGuest(KvmVcpu vcpu, ulong gpa, ulong value) => Run(vcpu, AddressOf(gpa), GuestAccess.Of(AccessKind.Write), value).Completed;

    /// <summary>A vCPU loads the 8 bytes at <paramref name="gpa"/>, or null when the access did not complete.</summary>
    public ulong? ReadGuest(KvmVcpu vcpu, ulong gpa) =>
        Run(vcpu, AddressOf(gpa), GuestAccess.Of(AccessKind.Read)) is { Completed: true } result ? result.Value : null;

    /// <summary>What userspace sees at <paramref name="gpa"/> through the memslot's host mapping, without faulting anything in.</summary>
    public ulong ReadHost(ulong gpa) =>
        FindSlot(gpa >> 12) is { } slot && Host.Lookup(slot.GfnToHvpn(gpa >> 12)) is { } pte ? Host.Read(pte.Pfn, WordIndex(gpa)) : 0;

    /// <summary>The address a guest access to <paramref name="gpa"/> uses: the GPA under TDP, its direct-map GVA under shadow paging.</summary>
    public ulong AddressOf(ulong gpa) => Shadow is null ? gpa : DirectMapBase + gpa;

    internal static int WordIndex(ulong gpa)
    {
        if ((gpa & 7) != 0)
        {
            throw new ArgumentException($"gpa 0x{gpa:x} is not 8-byte aligned", nameof(gpa));
        }

        return (int)((gpa & 0xfff) >> 3);
    }

    /// <summary>
    /// kvm_faultin_pfn()'s host side (__kvm_faultin_pfn, hva_to_pfn) for <paramref name="gfn"/>: a
    /// write fault breaks copy-on-write and needs a writable VMA; a missing page is faulted in.
    /// Null where the host has no page to give (no VMA, or a write to a read-only one): the fault
    /// fails with -EFAULT (kvm_handle_error_pfn: KVM_EXIT_MEMORY_FAULT). The PTE says whether the
    /// page may be mapped writable (map_writable).
    /// </summary>
    internal Host.HostPte? FaultInPfn(KvmMemorySlot slot, ulong gfn, bool write)
    {
        var hvpn = slot.GfnToHvpn(gfn);
        if (write && !Host.WritableVma(hvpn))
        {
            return null;
        }

        // A write to a shared page: swapped in first if it was swapped out (do_swap_page), then
        // copied (do_wp_page).
        if (write && Host.CopyOnWrite.Contains(hvpn) && Host.FaultIn(hvpn) is not null)
        {
            BreakCow(hvpn);
        }

        return Host.FaultIn(hvpn);
    }

    /// <summary>host_pfn_mapping_level() for <paramref name="gfn"/>.</summary>
    internal int HostMappingLevel(KvmMemorySlot slot, ulong gfn) => Host.MappingLevel(slot.GfnToHvpn(gfn));
}
