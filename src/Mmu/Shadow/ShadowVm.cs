using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Host;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Policy;
using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Shadow;

/// <summary>What one guest access came to: done (after how many exits to KVM), or a #PF the guest takes.</summary>
public sealed record ShadowAccessResult(ulong Gva, GuestAccess Access, GuestPageFault? PageFault, ulong Gpa, ulong Value, int KvmPageFaults, bool TlbHit)
{
    public bool Faulted => PageFault is not null;
}

/// <summary>
/// A VM without TDP: guest memory in one memslot backed by 4K host pages, vCPUs whose page
/// tables KVM shadows (<see cref="ShadowMmu"/>), and the guest's own page tables, built before
/// the first vCPU runs and changed afterwards only by guest stores through its direct map,
/// where the shadow MMU sees them. Runs under one model's rules (its SyncSpte policy); logs every
/// step in kernel terms; checks its invariants after every operation.
/// </summary>
public sealed partial class ShadowVm
{
    /// <summary>Where the guest maps its page tables to write them: Linux's direct map (page_offset_base, 4-level paging).</summary>
    public const ulong DirectMapBase = 0xffff_8880_0000_0000;

    private const int MaxEntriesPerAccess = 16;

    public ShadowVm(MmuRules rules, ulong memslotPages = 0x4000)
    {
        Rules = rules;
        Npages = memslotPages;
        Host.Populate(0, memslotPages, hostLevel: GuestWalker.PteLevel);
        Mmu = new ShadowMmu(this, rules.SyncSpte.Sync ?? throw new ArgumentException($"model '{rules.Model}' gives SyncSpte no decision table", nameof(rules)));
        Tables = new GuestPageTables(Memory, GuestWalker.Pml4eLevel);
        Log.Add($"memslot 0: gfn 0x0..0x{memslotPages - 1:x}, 4K host pages; model {rules.Model}");
    }

    public MmuRules Rules { get; }

    /// <summary>Guest-physical memory: what the guest and KVM's walker read and write.</summary>
    public SparseGuestMemory Memory { get; } = new();

    /// <summary>The host pages behind the memslot: the pfns SPTEs point at.</summary>
    public HostMm Host { get; } = new();

    /// <summary>Pages in the memslot, from gfn 0.</summary>
    public ulong Npages { get; }

    public ShadowMmu Mmu { get; }

    /// <summary>The guest's page tables (CR3 is their root).</summary>
    public GuestPageTables Tables { get; }

    public List<ShadowVcpu> Vcpus { get; } = [];

    /// <summary>What happened, in order.</summary>
    public List<string> Log { get; } = [];

    /// <summary>Broken invariants not yet claimed by the scenario.</summary>
    public List<Violation> Violations { get; } = [];

    /// <summary>
    /// Run after FNAME(walk_addr) found that a guest access faults and before KVM injects the
    /// #PF (kvm_inject_emulated_page_fault): what other vCPUs do in that window.
    /// </summary>
    public Queue<Action> BeforeInjectingPageFault { get; } = new();

    public ShadowVcpu CreateVcpu(GuestCpuState cpu)
    {
        var vcpu = new ShadowVcpu(Vcpus.Count, cpu with { Cr3 = cpu.Cr3 == 0 ? Tables.RootGpa : cpu.Cr3 });
        Vcpus.Add(vcpu);
        return vcpu;
    }

    /// <summary>
    /// The guest maps <paramref name="gva"/> while it boots, before KVM shadows anything (see
    /// <see cref="GuestPageTables.Map"/>). Once shadow pages exist the guest changes its tables
    /// by storing to them (<see cref="WriteGpte"/>), which the shadow MMU sees.
    /// </summary>
    public void MapAtBoot(ulong gva, ulong gpa, params ReadOnlySpan<ulong> entryBits)
    {
        if (Mmu.ActivePages.Count > 0)
        {
            throw new InvalidOperationException("KVM already shadows the guest's tables: change a gPTE with a guest store (WriteGpte)");
        }

        Tables.Map(gva, gpa, entryBits);
    }

    /// <summary>
    /// While it boots, the guest points its entry at <paramref name="level"/> for
    /// <paramref name="gva"/> at a table that already exists, so that two entries share one
    /// table (two PUDs, one PMD page).
    /// </summary>
    public void LinkAtBoot(ulong gva, int level, ulong tableGpa, ulong entryBits)
    {
        if (Mmu.ActivePages.Count > 0)
        {
            throw new InvalidOperationException("KVM already shadows the guest's tables: change a gPTE with a guest store (WriteGpte)");
        }

        Memory.WritePte(Tables.EntryGpa(gva, level), entryBits | new GuestPteNonLeaf(0).WithTableAddr(tableGpa >> GuestWalker.PageShift).Raw);
    }

    /// <summary>
    /// The guest maps each of its page tables at <see cref="DirectMapBase"/> + its gpa,
    /// supervisor read-write, as Linux's direct map does, so that it can write them; the tables
    /// this adds are mapped too.
    /// </summary>
    public void MapDirectMapAtBoot()
    {
        var table = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask | GuestPteNonLeaf.AccessedMask;
        var leaf = GuestPte4K.PresentMask | GuestPte4K.WritableMask | GuestPte4K.AccessedMask | GuestPte4K.DirtyMask;
        var mapped = 0;
        while (mapped < Tables.TableCount)
        {
            var gfn = Tables.TableBaseGfn + (ulong)mapped++;
            MapAtBoot(DirectMap(gfn << GuestWalker.PageShift), gfn << GuestWalker.PageShift, table, table, table, leaf);
        }
    }

    /// <summary>The direct-map address of <paramref name="gpa"/>.</summary>
    public static ulong DirectMap(ulong gpa) => DirectMapBase + gpa;

    /// <summary>The gPTE at <paramref name="level"/> on the way to <paramref name="gva"/>, as it is in guest memory now.</summary>
    public ulong Gpte(ulong gva, int level) => Memory.ReadPte(Tables.EntryGpa(gva, level));

    /// <summary>The guest stores <paramref name="value"/> into its gPTE at <paramref name="level"/> for <paramref name="gva"/>, through the direct map.</summary>
    public ShadowAccessResult WriteGpte(ShadowVcpu vcpu, ulong gva, int level, ulong value) =>
        Access(vcpu, DirectMap(Tables.EntryGpa(gva, level)), new GuestAccess(user: false, GuestAccessKind.Write), value);

    internal bool HasMemslot(ulong gfn) => gfn < Npages;

    /// <summary>kvm_faultin_pfn(): the host page behind <paramref name="gfn"/>.</summary>
    internal ulong FaultInPfn(ulong gfn)
    {
        if (!HasMemslot(gfn))
        {
            throw new InvalidOperationException($"gfn 0x{gfn:x} is in no memslot: MMIO is not modelled in the shadow VM");
        }

        return (Host.Lookup(gfn) ?? Host.FaultIn(gfn)).Pfn;
    }

    /// <summary>
    /// A guest access as the CPU makes it: a TLB hit if the cached translation allows it, else a
    /// walk of the shadow page tables from the vCPU's root, setting A (and D for a write) in the
    /// leaf SPTE and filling the TLB. A #PF removes the address's TLB entries and exits to KVM
    /// (kvm_mmu_page_fault); the access is retried until it completes, is emulated
    /// (RET_PF_WRITE_PROTECTED), or the guest takes a #PF KVM injected.
    /// </summary>
    public ShadowAccessResult Access(ShadowVcpu vcpu, ulong gva, GuestAccess access, ulong value = 0)
    {
        var what = $"vCPU {vcpu.Id} {access} 0x{gva:x}";
        var exits = 0;
        for (var entry = 0; entry < MaxEntriesPerAccess; entry++)
        {
            if (vcpu.PendingPageFault is { } pending)
            {
                vcpu.PendingPageFault = null;
                vcpu.PageFaults.Add(pending);
                Log.Add($"{what}: the guest takes {pending}");
                AfterOperation(what);
                return new ShadowAccessResult(gva, access, pending, 0, 0, exits, TlbHit: false);
            }

            KvmMmuReload(vcpu);
            var vpn = gva >> GuestWalker.PageShift;
            if (vcpu.Tlb.TryGetValue(vpn, out var cached) && vcpu.HardwareMmu.PermissionFault(cached.Access, 0, access.Pfec) == 0
                && !(access.Kind == GuestAccessKind.Write && !cached.Dirty))
            {
                Log.Add($"{what}: TLB hit (gfn 0x{cached.Gfn:x}{(cached.Writable ? ", writable" : "")})");
                return Complete(vcpu, gva, access, value, cached.Gfn, exits, tlbHit: true);
            }

            var (leaf, index, present) = HardwareWalk(vcpu, gva);
            if (leaf is not null && vcpu.HardwareMmu.PermissionFault(Spte.Access(leaf.Spt[index]), 0, access.Pfec) == 0)
            {
                var spte = leaf.Spt[index] | LegacySpte.AccessedMask | (access.Kind == GuestAccessKind.Write ? LegacySpte.DirtyMask : 0);
                leaf.Spt[index] = spte;
                var gfn = leaf.GetGfn(index);
                vcpu.Tlb[vpn] = new ShadowTlbEntry(gfn, Spte.ToPfn(spte), Spte.IsWritable(spte), (spte & LegacySpte.UserMask) != 0, (spte & LegacySpte.NxMask) == 0, (spte & LegacySpte.DirtyMask) != 0);
                if (exits == 0)
                {
                    Log.Add($"{what}: TLB miss, SPTE {Spte.Describe(spte)}");
                }

                return Complete(vcpu, gva, access, value, gfn, exits, tlbHit: false);
            }

            // A #PF invalidates the TLB entries for the faulting address (SDM 4.10.4.1), then exits.
            vcpu.Tlb.Remove(vpn);
            var errorCode = (present ? PfErr.PFERR_PRESENT_MASK : 0) | (access.Pfec & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK | PfErr.PFERR_FETCH_MASK));
            vcpu.KvmPageFaults++;
            exits++;
            Log.Add($"{what}: #PF ({PfErrorCode.Describe(errorCode)}) exits to KVM{(leaf is null ? "" : $", SPTE {Spte.Describe(leaf.Spt[index])}")}");
            var result = Mmu.PageFault(vcpu, gva, errorCode);
            AfterOperation($"{what}: FNAME(page_fault)");
            if (result is PageFaultResult.WriteProtected or PageFaultResult.Emulate)
            {
                return EmulateWrite(vcpu, gva, access, value, exits);
            }
        }

        throw new InvalidOperationException($"{what} did not complete in {MaxEntriesPerAccess} entries:\n{string.Join('\n', Log.TakeLast(20))}");
    }

    private ShadowAccessResult Complete(ShadowVcpu vcpu, ulong gva, GuestAccess access, ulong value, ulong gfn, int exits, bool tlbHit)
    {
        var gpa = (gfn << GuestWalker.PageShift) | (gva & ((1UL << GuestWalker.PageShift) - 1) & ~7UL);
        if (access.Kind == GuestAccessKind.Write)
        {
            Memory.WritePte(gpa, value);
        }
        else
        {
            value = access.Kind == GuestAccessKind.Read && Memory.TryReadPte(gpa, out var read) ? read : 0;
        }

        if (exits > 0)
        {
            Log.Add($"vCPU {vcpu.Id} {access} 0x{gva:x}: completes after {exits} exit(s) to KVM");
        }

        AfterOperation($"vCPU {vcpu.Id} {access} 0x{gva:x}");
        return new ShadowAccessResult(gva, access, null, gpa, value, exits, tlbHit);
    }

    /// <summary>
    /// The CPU's walk of the shadow page tables for <paramref name="gva"/>: the leaf SPTE (page
    /// and index), or null where it stops at a non-present SPTE. Non-leaf SPTEs grant every right.
    /// </summary>
    private (ShadowPage? Page, int Index, bool Present) HardwareWalk(ShadowVcpu vcpu, ulong gva)
    {
        var sp = vcpu.Root!;
        var vpn = gva >> GuestWalker.PageShift;
        for (var level = sp.Role.Level; ; level--)
        {
            var index = GuestWalker.SpteIndex(vpn, level);
            var spte = sp.Spt[index];
            if (!Spte.IsShadowPresent(spte))
            {
                return (null, index, false);
            }

            if (Spte.IsLast(spte, level))
            {
                return (sp, index, true);
            }

            sp = Mmu.ChildOf(spte);
        }
    }

    /// <summary>
    /// RET_PF_WRITE_PROTECTED on a shadow MMU: kvm_mmu_write_protect_fault() emulates the
    /// instruction (only an event awaiting reinjection would unprotect and retry instead, and a
    /// page-table-writing instruction is never retried). The emulator translates the address
    /// with the guest walker (a #PF there is injected), writes guest memory
    /// (kvm_vcpu_write_guest) and tells the shadow MMU (kvm_page_track_write ->
    /// kvm_mmu_track_write).
    /// </summary>
    private ShadowAccessResult EmulateWrite(ShadowVcpu vcpu, ulong gva, GuestAccess access, ulong value, int exits)
    {
        var what = $"vCPU {vcpu.Id} {access} 0x{gva:x}";
        if (!GuestWalker.Walk(Memory, vcpu.Mmu, gva, access, out var walker))
        {
            InjectEmulatedPageFault(vcpu, gva, walker.ErrorCode);
            var pf = vcpu.PendingPageFault!.Value;
            vcpu.PendingPageFault = null;
            vcpu.PageFaults.Add(pf);
            Log.Add($"{what}: x86_emulate_instruction: the guest takes {pf}");
            AfterOperation(what);
            return new ShadowAccessResult(gva, access, pf, 0, 0, exits, TlbHit: false);
        }

        var gpa = walker.Gpa & ~7UL;
        Memory.WritePte(gpa, value);
        Log.Add($"{what}: x86_emulate_instruction writes 0x{value:x} to gpa 0x{gpa:x}");
        Mmu.TrackWrite(gpa);
        AfterOperation(what);
        return new ShadowAccessResult(gva, access, null, gpa, value, exits, TlbHit: false);
    }

    /// <summary>
    /// kvm_inject_emulated_page_fault() (x86.c): "Invalidate the TLB entry for the faulting
    /// address, if it exists, else the access will fault indefinitely (and to emulate
    /// hardware)": a #PF that is neither not-present nor RSVD invalidates the address on the
    /// current root (kvm_mmu_invalidate_addr: flush_tlb_gva, then FNAME(sync_spte) for an unsync
    /// page), then the #PF is queued for the guest.
    /// </summary>
    internal void InjectEmulatedPageFault(ShadowVcpu vcpu, ulong addr, ulong errorCode)
    {
        while (BeforeInjectingPageFault.TryDequeue(out var meanwhile))
        {
            Log.Add($"  (meanwhile, before vCPU {vcpu.Id}'s #PF is injected)");
            meanwhile();
        }

        if ((errorCode & PfErr.PFERR_PRESENT_MASK) != 0 && (errorCode & PfErr.PFERR_RSVD_MASK) == 0)
        {
            Log.Add($"  kvm_inject_emulated_page_fault: kvm_mmu_invalidate_addr(0x{addr:x}, KVM_MMU_ROOT_CURRENT)");
            vcpu.Tlb.Remove(addr >> GuestWalker.PageShift);
            Mmu.InvalidateAddr(vcpu, addr);
            CheckPageFaultRemovedTranslation(vcpu, addr);
        }

        vcpu.PendingPageFault = new GuestPageFault(addr, errorCode);
    }

    /// <summary>
    /// kvm_mmu_reload() before entering the guest: a vCPU without a root, or whose root was
    /// zapped, loads one for its CR3 and role (kvm_mmu_load: mmu_alloc_shadow_roots,
    /// kvm_mmu_sync_roots, flush_tlb_current).
    /// </summary>
    private void KvmMmuReload(ShadowVcpu vcpu)
    {
        if (vcpu.Root is { Invalid: false } && !vcpu.RootObsolete)
        {
            return;
        }

        if (vcpu.Root is { } old)
        {
            Mmu.FreeRoot(old);
            vcpu.Root = null;
        }

        vcpu.RootObsolete = false;
        Log.Add($"vCPU {vcpu.Id}: kvm_mmu_load, CR3 0x{vcpu.Cpu.Cr3:x}, root role {vcpu.RootRole}");
        vcpu.Root = Mmu.AllocRoot(vcpu);
        Mmu.KvmMmuSyncRoots(vcpu);
        vcpu.Tlb.Clear();
    }

    /// <summary>kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT): the vCPU lets go of its root; the page stays hashed for reuse.</summary>
    private void FreeCurrentRoot(ShadowVcpu vcpu)
    {
        if (vcpu.Root is { } root)
        {
            Mmu.FreeRoot(root);
            vcpu.Root = null;
        }
    }

    /// <summary>
    /// INVLPG (kvm_mmu_invlpg -> kvm_mmu_invalidate_addr): drop the address from the vCPU's TLB
    /// (flush_tlb_gva) and sync its SPTE in the unsync pages on the way (FNAME(sync_spte)).
    /// </summary>
    public void Invlpg(ShadowVcpu vcpu, ulong gva)
    {
        Log.Add($"vCPU {vcpu.Id} INVLPG 0x{gva:x}");
        KvmMmuReload(vcpu);
        vcpu.Tlb.Remove(gva >> GuestWalker.PageShift);
        Mmu.InvalidateAddr(vcpu, gva);
        AfterOperation($"vCPU {vcpu.Id} INVLPG");
    }

    /// <summary>
    /// A guest TLB flush (INVPCID all-context, a CR4.PGE toggle; kvm_vcpu_flush_tlb_guest): "a
    /// forced sync of the shadow page tables", kvm_mmu_sync_roots, then flush_tlb_guest.
    /// </summary>
    public void FlushTlbGuest(ShadowVcpu vcpu)
    {
        Log.Add($"vCPU {vcpu.Id} flushes its TLB (kvm_vcpu_flush_tlb_guest)");
        KvmMmuReload(vcpu);
        Mmu.KvmMmuSyncRoots(vcpu);
        vcpu.Tlb.Clear();
        AfterOperation($"vCPU {vcpu.Id} TLB flush");
    }

    /// <summary>
    /// MOV to CR3 (kvm_set_cr3): the same value is a guest TLB flush; a new one switches roots
    /// (kvm_mmu_new_pgd; the previous-roots cache is not modelled), and loading the new root
    /// syncs it (kvm_mmu_load -> kvm_mmu_sync_roots) and flushes the vCPU's TLB.
    /// </summary>
    public void LoadCr3(ShadowVcpu vcpu, ulong cr3)
    {
        if (cr3 == vcpu.Cpu.Cr3)
        {
            Log.Add($"vCPU {vcpu.Id} MOV CR3 0x{cr3:x} (unchanged): a guest TLB flush");
            FlushTlbGuest(vcpu);
            return;
        }

        Log.Add($"vCPU {vcpu.Id} MOV CR3 0x{cr3:x}");
        FreeCurrentRoot(vcpu);
        vcpu.SetCpu(vcpu.Cpu with { Cr3 = cr3 });
        KvmMmuReload(vcpu);
        AfterOperation($"vCPU {vcpu.Id} MOV CR3");
    }

    /// <summary>
    /// A write to CR0, CR4 or EFER. One that changes the MMU role (CR0.WP, CR4.SMEP/SMAP/PKE/LA57,
    /// EFER.NX: kvm_post_set_cr0/cr4, kvm_set_efer) resets the MMU context
    /// (kvm_mmu_reset_context -> kvm_mmu_unload): the next entry loads a root of the new role.
    /// Shadow pages of the old role stay hashed, and are found again if the role comes back.
    /// </summary>
    public void SetControlRegisters(ShadowVcpu vcpu, GuestCpuState cpu)
    {
        cpu = cpu with { Cr3 = vcpu.Cpu.Cr3 };
        var reset = !cpu.SameRole(vcpu.Cpu);
        Log.Add($"vCPU {vcpu.Id} sets {cpu}{(reset ? ": kvm_mmu_reset_context" : "")}");
        if (reset)
        {
            FreeCurrentRoot(vcpu);
        }

        vcpu.SetCpu(cpu);
        if (reset)
        {
            KvmMmuReload(vcpu);
        }

        AfterOperation($"vCPU {vcpu.Id} control registers");
    }

    /// <summary>kvm_flush_remote_tlbs(): every vCPU drops its cached translations.</summary>
    internal void FlushRemoteTlbs(string reason)
    {
        foreach (var vcpu in Vcpus)
        {
            vcpu.Tlb.Clear();
        }

        Log.Add($"  flush remote TLBs ({reason})");
    }
}
