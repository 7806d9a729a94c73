using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

/// <summary>
/// A vCPU's shadow-MMU context (vcpu->arch.mmu under shadow paging): its root shadow page, null
/// until the next entry loads one (kvm_mmu_reload), and whether that root was zapped.
/// </summary>
public sealed class ShadowVcpuMmu
{
    public ShadowPage? Root { get; internal set; }

    /// <summary>KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the root was zapped and must be replaced before the next entry.</summary>
    internal bool RootObsolete { get; set; }

    /// <summary>vcpu->arch.mmu->root_role: the role of the root the vCPU needs for its CPU state.</summary>
    public static KvmMmuPageRole RootRole(KvmVcpu vcpu) => KvmMmuPageRole.ForRoot(vcpu.Cpu);
}

public sealed partial class ShadowMmu
{
    private const int MaxEntriesPerAccess = 16;

    protected override string LogIndent => "  ";

    /// <summary>
    /// A guest access as the CPU makes it under shadow paging: a TLB hit if the cached translation
    /// allows it, else a walk of the shadow page tables from the vCPU's root, setting A (and D for
    /// a write) in the leaf SPTE and filling the TLB. A #PF removes the address's TLB entries and
    /// exits to KVM (kvm_mmu_page_fault); the access is retried until it completes, is emulated
    /// (RET_PF_WRITE_PROTECTED, RET_PF_EMULATE: the emulator translates the address with the guest
    /// walker, and a #PF there is injected), or the guest takes a #PF KVM injected.
    /// </summary>
    public override MmuAccess Access(KvmVcpu vcpu, ulong gva, GuestAccess access)
    {
        vcpu.ShadowMmu ??= new ShadowVcpuMmu();
        var what = $"vCPU {vcpu.Id} {access} 0x{gva:x}";
        var exits = 0;
        for (var entry = 0; entry < MaxEntriesPerAccess; entry++)
        {
            if (vcpu.PendingPageFault is { } pending)
            {
                vcpu.PendingPageFault = null;
                vcpu.PageFaults.Add(pending);
                Kvm.Log.Add($"{what}: the guest takes {pending}");
                return new MmuAccess(AccessOutcome.GuestPageFault, 0, 0, exits, false, pending);
            }

            KvmMmuReload(vcpu);
            if (TlbHit(vcpu, gva, access, what) is { } cached)
            {
                return Complete(vcpu, gva, access, cached.Gfn, cached.Pfn, exits, tlbHit: true);
            }

            var (leaf, index, present) = HardwareWalk(vcpu, gva);
            if (leaf is not null && present && vcpu.HardwareMmu.PermissionFault(SpteAccess(leaf.Spt[index]), 0, access.Pfec) == 0)
            {
                var (gfn, pfn, spte) = HardwareFillTlb(vcpu, gva, access, leaf, index);
                if (exits == 0)
                {
                    Kvm.Log.Add($"{what}: TLB miss, SPTE {Describe(spte)}");
                }

                return Complete(vcpu, gva, access, gfn, pfn, exits, tlbHit: false);
            }

            // An MMIO SPTE is a reserved-bit #PF (PFERR_RSVD_MASK): emulated at once while its
            // generation is current (handle_mmio_page_fault), else dropped for the slow path.
            if (leaf is not null && Masks.IsMmio(leaf.Spt[index]))
            {
                var mmio = leaf.Spt[index];
                exits++;
                vcpu.KvmPageFaults++;
                if (SpteMasks.MmioGeneration(mmio) == (Kvm.MemslotGeneration & SpteValues.MMIO_SPTE_GEN_MASK))
                {
                    Kvm.Log.Add($"{what}: #PF (RSVD) on an MMIO SPTE, RET_PF_EMULATE");
                    return Emulate(vcpu, gva, access, exits, what);
                }

                Kvm.Log.Add($"{what}: #PF (RSVD) on a stale MMIO SPTE, slow path");
                leaf.Spt[index] = Masks.NonPresentValue;
                continue;
            }

            // A #PF invalidates the TLB entries for the faulting address (SDM 4.10.4.1), then exits.
            vcpu.Tlb.Remove(gva >> GuestWalker.PageShift);
            var errorCode = (present ? PfErr.PFERR_PRESENT_MASK : 0) | (access.Pfec & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK | PfErr.PFERR_FETCH_MASK));
            vcpu.KvmPageFaults++;
            exits++;
            Kvm.Log.Add($"{what}: #PF ({PfErrorCode.Describe(errorCode)}) exits to KVM{(leaf is null ? "" : $", SPTE {Describe(leaf.Spt[index])}")}");
            var result = PageFault(vcpu, gva, errorCode, out var exit);
            Kvm.AfterOperation($"{what}: FNAME(page_fault)");
            if (exit is not null)
            {
                return new MmuAccess(AccessOutcome.Exit, 0, 0, exits, false, Exit: exit);
            }

            if (result is PageFaultResult.WriteProtected or PageFaultResult.Emulate)
            {
                return Emulate(vcpu, gva, access, exits, what);
            }

            if (result == PageFaultResult.Retry && LastFaultStale && Kvm.MmuInvalidateInProgress > 0)
            {
                // The vCPU keeps re-faulting until the invalidation ends; the model runs the access then.
                Kvm.Log.Add($"{what}: waits for the invalidation to end");
                Kvm.RetryAfterInvalidation(() => Kvm.Run(vcpu, gva, access));
                return new MmuAccess(AccessOutcome.WaitsForInvalidation, 0, 0, exits, false);
            }
        }

        KvmWarn.On(true, $"{what} did not complete in {MaxEntriesPerAccess} entries");
        return new MmuAccess(AccessOutcome.Exit, 0, 0, exits, false, Exit: "-EFAULT");
    }

    private MmuAccess Complete(KvmVcpu vcpu, ulong gva, GuestAccess access, ulong gfn, ulong pfn, int exits, bool tlbHit)
    {
        var gpa = (gfn << GuestWalker.PageShift) | (gva & ((1UL << GuestWalker.PageShift) - 1) & ~7UL);
        if (exits > 0)
        {
            Kvm.Log.Add($"vCPU {vcpu.Id} {access} 0x{gva:x}: completes after {exits} exit(s) to KVM");
        }

        return MmuAccess.Done(gpa, pfn, exits, tlbHit);
    }

    /// <summary>
    /// x86_emulate_instruction() under shadow paging: the emulator translates the address with the
    /// guest walker (kvm_mmu_gva_to_gpa); a #PF there is injected (the guest takes it), otherwise
    /// the access goes to the common emulation at the GPA.
    /// </summary>
    private MmuAccess Emulate(KvmVcpu vcpu, ulong gva, GuestAccess access, int exits, string what)
    {
        if (!GuestWalker.Walk(Kvm.GuestMemory, vcpu.Mmu, gva, access, out var walker))
        {
            InjectEmulatedPageFault(vcpu, gva, walker.ErrorCode);
            var pf = vcpu.PendingPageFault!.Value;
            vcpu.PendingPageFault = null;
            vcpu.PageFaults.Add(pf);
            Kvm.Log.Add($"{what}: x86_emulate_instruction: the guest takes {pf}");
            return new MmuAccess(AccessOutcome.GuestPageFault, 0, 0, exits, false, pf);
        }

        return MmuAccess.Emulate(walker.Gpa & ~7UL, exits);
    }

    /// <summary>
    /// The CPU's walk of the shadow page tables for <paramref name="gva"/>: the leaf SPTE (page
    /// and index), or the page and index where it stops at a non-present SPTE (Present false: a
    /// hole, or an MMIO SPTE). Non-leaf SPTEs grant every right.
    /// </summary>
    /// <summary>
    /// The CPU's TLB lookup: a cached translation that allows the access is used as is (even if
    /// the SPTE has since lost the permission: the stale translation a missing flush allows, which
    /// the checker records); a write through an entry cached without D walks again to set it.
    /// </summary>
    private TlbEntry? TlbHit(KvmVcpu vcpu, ulong gva, GuestAccess access, string what)
    {
        var vpn = gva >> GuestWalker.PageShift;
        if (!vcpu.Tlb.TryGetValue(vpn, out var cached) || vcpu.HardwareMmu.PermissionFault(cached.Access, 0, access.Pfec) != 0
            || (access.Kind == GuestAccessKind.Write && !cached.Dirty))
        {
            return null;
        }

        Kvm.Log.Add($"{what}: TLB hit (gfn 0x{cached.Gfn:x}{(cached.Writable ? ", writable" : "")})");
        Kvm.CheckTlbHit(vcpu, vpn, cached, access.AccessKind);
        return cached;
    }

    /// <summary>
    /// The CPU completes a walk that allows the access: its A/D assist sets A (and D for a write)
    /// in the leaf SPTE, and the translation (the page within a huge leaf) fills the TLB.
    /// </summary>
    private (ulong Gfn, ulong Pfn, ulong Spte) HardwareFillTlb(KvmVcpu vcpu, ulong gva, GuestAccess access, ShadowPage leaf, int index)
    {
        var vpn = gva >> GuestWalker.PageShift;
        var spte = leaf.Spt[index] | Masks.AccessedMask | (access.Kind == GuestAccessKind.Write ? Masks.DirtyMask : 0);
        leaf.Spt[index] = spte;
        var offset = vpn & (GuestWalker.PagesPerHpage(leaf.Role.Level) - 1);
        var gfn = leaf.GetGfn(index) + offset;
        var pfn = SpteMasks.ToPfn(spte) + offset;
        vcpu.Tlb[vpn] = new TlbEntry(gfn, pfn, SpteMasks.IsWritable(spte), (spte & Masks.UserMask) != 0, Masks.IsExecutable(spte), (spte & Masks.DirtyMask) != 0);
        return (gfn, pfn, spte);
    }

    private (ShadowPage? Page, int Index, bool Present) HardwareWalk(KvmVcpu vcpu, ulong gva)
    {
        if (vcpu.ShadowMmu?.Root is not { } sp)
        {
            return (null, 0, false);
        }

        var vpn = gva >> GuestWalker.PageShift;
        for (var level = sp.Role.Level; ; level--)
        {
            var index = GuestWalker.SpteIndex(vpn, level);
            var spte = sp.Spt[index];
            if (!SpteMasks.IsShadowPresent(spte))
            {
                return (Masks.IsMmio(spte) ? sp : null, index, false);
            }

            if (SpteMasks.IsLast(spte, level))
            {
                return (sp, index, true);
            }

            sp = ChildOf(spte);
        }
    }

    /// <summary>The rights a leaf SPTE grants, as ACC_* uwx: W, U and not NX.</summary>
    public uint SpteAccess(ulong spte) =>
        (SpteMasks.IsWritable(spte) ? (uint)Acc.ACC_WRITE_MASK : 0) | ((spte & Masks.UserMask) != 0 ? (uint)Acc.ACC_USER_MASK : 0) | (Masks.IsExecutable(spte) ? (uint)Acc.ACC_EXEC_MASK : 0);

    /// <summary>
    /// kvm_inject_emulated_page_fault() (x86.c): "Invalidate the TLB entry for the faulting
    /// address, if it exists, else the access will fault indefinitely (and to emulate
    /// hardware)": a #PF that is neither not-present nor RSVD invalidates the address on the
    /// current root (kvm_mmu_invalidate_addr: flush_tlb_gva, then FNAME(sync_spte) for an unsync
    /// page), then the #PF is queued for the guest.
    /// </summary>
    internal void InjectEmulatedPageFault(KvmVcpu vcpu, ulong addr, ulong errorCode)
    {
        if (InvalidatesAddr(errorCode))
        {
            InvalidateAddrForPageFault(vcpu, addr);
        }

        vcpu.PendingPageFault = new GuestPageFault(addr, errorCode);
    }

    /// <summary>kvm_inject_emulated_page_fault(): only a #PF that is neither not-present nor RSVD invalidates the address.</summary>
    private static bool InvalidatesAddr(ulong errorCode) =>
        (errorCode & PfErr.PFERR_PRESENT_MASK) != 0 && (errorCode & PfErr.PFERR_RSVD_MASK) == 0;

    /// <summary>
    /// kvm_mmu_invalidate_addr(KVM_MMU_ROOT_CURRENT) for the #PF, which takes mmu_lock for write
    /// (kvm_mmu_invalidate_addr_in_root, __kvm_mmu_invalidate_addr before 6.15), and the checker's
    /// rule that the #PF left no translation of the address behind.
    /// </summary>
    private void InvalidateAddrForPageFault(KvmVcpu vcpu, ulong addr)
    {
        Kvm.Log.Add($"  kvm_inject_emulated_page_fault: kvm_mmu_invalidate_addr(0x{addr:x}, KVM_MMU_ROOT_CURRENT)");
        vcpu.Tlb.Remove(addr >> GuestWalker.PageShift);
        InvalidateAddr(vcpu, addr);
        CheckPageFaultRemovedTranslation(vcpu, addr);
    }

    /// <summary>
    /// kvm_mmu_reload() before entering the guest: a vCPU without a root, or whose root was
    /// zapped, loads one for its CR3 and role (kvm_mmu_load: mmu_alloc_shadow_roots,
    /// kvm_mmu_sync_roots, flush_tlb_current).
    /// </summary>
    private void KvmMmuReload(KvmVcpu vcpu)
    {
        var arch = vcpu.ShadowMmu ??= new ShadowVcpuMmu();
        if (arch.Root is { Invalid: false } && !arch.RootObsolete)
        {
            return;
        }

        if (arch.Root is { } old)
        {
            FreeRoot(old);
            arch.Root = null;
        }

        arch.RootObsolete = false;
        Kvm.Log.Add($"vCPU {vcpu.Id}: kvm_mmu_load, CR3 0x{vcpu.Cpu.Cr3:x}, root role {ShadowVcpuMmu.RootRole(vcpu)}");
        arch.Root = AllocRoot(vcpu);
        KvmMmuSyncRoots(vcpu);
        vcpu.Tlb.Clear();
    }

    /// <summary>kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT): the vCPU lets go of its root; the page stays hashed for reuse.</summary>
    private void FreeCurrentRoot(KvmVcpu vcpu)
    {
        if (vcpu.ShadowMmu?.Root is { } root)
        {
            FreeRoot(root);
            vcpu.ShadowMmu.Root = null;
        }
    }

    /// <summary>
    /// INVLPG (kvm_mmu_invlpg -> kvm_mmu_invalidate_addr): drop the address from the vCPU's TLB
    /// (flush_tlb_gva) and sync its SPTE in the unsync pages on the way (FNAME(sync_spte)).
    /// </summary>
    public void Invlpg(KvmVcpu vcpu, ulong gva)
    {
        using var running = Kvm.AsRunning(vcpu);
        InvlpgAsRunning(vcpu, gva);
    }

    private void InvlpgAsRunning(KvmVcpu vcpu, ulong gva)
    {
        Kvm.Log.Add($"vCPU {vcpu.Id} INVLPG 0x{gva:x}");
        KvmMmuReload(vcpu);
        vcpu.Tlb.Remove(gva >> GuestWalker.PageShift);
        InvalidateAddr(vcpu, gva);
        Kvm.AfterOperation($"vCPU {vcpu.Id} INVLPG");
    }

    /// <summary>
    /// A guest TLB flush (INVPCID all-context, a CR4.PGE toggle; kvm_vcpu_flush_tlb_guest): "a
    /// forced sync of the shadow page tables", kvm_mmu_sync_roots, then flush_tlb_guest.
    /// </summary>
    public void FlushTlbGuest(KvmVcpu vcpu)
    {
        using var running = Kvm.AsRunning(vcpu);
        FlushTlbGuestAsRunning(vcpu);
    }

    private void FlushTlbGuestAsRunning(KvmVcpu vcpu)
    {
        Kvm.Log.Add($"vCPU {vcpu.Id} flushes its TLB (kvm_vcpu_flush_tlb_guest)");
        KvmMmuReload(vcpu);
        KvmMmuSyncRoots(vcpu);
        vcpu.Tlb.Clear();
        Kvm.AfterOperation($"vCPU {vcpu.Id} TLB flush");
    }

    /// <summary>
    /// MOV to CR3 (kvm_set_cr3): the same value is a guest TLB flush; a new one switches roots
    /// (kvm_mmu_new_pgd; the previous-roots cache is not modelled), and loading the new root
    /// syncs it (kvm_mmu_load -> kvm_mmu_sync_roots) and flushes the vCPU's TLB.
    /// </summary>
    public void LoadCr3(KvmVcpu vcpu, ulong cr3)
    {
        using var running = Kvm.AsRunning(vcpu);
        LoadCr3AsRunning(vcpu, cr3);
    }

    private void LoadCr3AsRunning(KvmVcpu vcpu, ulong cr3)
    {
        if (cr3 == vcpu.Cpu.Cr3)
        {
            Kvm.Log.Add($"vCPU {vcpu.Id} MOV CR3 0x{cr3:x} (unchanged): a guest TLB flush");
            FlushTlbGuest(vcpu);
            return;
        }

        Kvm.Log.Add($"vCPU {vcpu.Id} MOV CR3 0x{cr3:x}");
        FreeCurrentRoot(vcpu);
        vcpu.SetCpu(vcpu.Cpu with { Cr3 = cr3 });
        KvmMmuReload(vcpu);
        Kvm.AfterOperation($"vCPU {vcpu.Id} MOV CR3");
    }

    /// <summary>
    /// A write to CR0, CR4 or EFER. One that changes the MMU role (CR0.WP, CR4.SMEP/SMAP/PKE/LA57,
    /// EFER.NX: kvm_post_set_cr0/cr4, kvm_set_efer) resets the MMU context
    /// (kvm_mmu_reset_context -> kvm_mmu_unload): the next entry loads a root of the new role.
    /// Shadow pages of the old role stay hashed, and are found again if the role comes back.
    /// </summary>
    public void SetControlRegisters(KvmVcpu vcpu, GuestCpuState cpu)
    {
        using var running = Kvm.AsRunning(vcpu);
        SetControlRegistersAsRunning(vcpu, cpu);
    }

    private void SetControlRegistersAsRunning(KvmVcpu vcpu, GuestCpuState cpu)
    {
        cpu = cpu with { Cr3 = vcpu.Cpu.Cr3 };
        var reset = !cpu.SameRole(vcpu.Cpu);
        Kvm.Log.Add($"vCPU {vcpu.Id} sets {cpu}{(reset ? ": kvm_mmu_reset_context" : "")}");
        if (reset)
        {
            FreeCurrentRoot(vcpu);
        }

        vcpu.SetCpu(cpu);
        if (reset)
        {
            KvmMmuReload(vcpu);
        }

        Kvm.AfterOperation($"vCPU {vcpu.Id} control registers");
    }
}
