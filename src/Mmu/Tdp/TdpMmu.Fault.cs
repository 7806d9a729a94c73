using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>
    /// A vCPU's access to guest-physical <paramref name="address"/> (the model does not run guest
    /// paging under TDP): a TLB hit is used as the hardware would, even if the SPTE has since lost
    /// the permission, which is exactly the stale translation a missing flush allows (the checker
    /// records it). A miss walks the SPTEs, setting A (and D on a write); an EPT violation (NPT
    /// #NPF) goes to the fast path, then kvm_tdp_page_fault(). A TDX VM picks the root by the
    /// shared bit (tdp_mmu_get_root_for_fault) and exits with KVM_EXIT_MEMORY_FAULT where the
    /// access disagrees with the GFN's attribute.
    /// </summary>
    public override MmuAccess Access(KvmVcpu vcpu, ulong address, GuestAccess guestAccess)
    {
        var tlbGfn = address >> 12;
        var access = guestAccess.AccessKind;
        var what = $"vCPU {vcpu.Id} {Verb(access)} gfn 0x{tlbGfn:x}";
        var (root, gfn) = RootForFault(tlbGfn);
        var gpa = (gfn << 12) | (address & 0xfff);
        if (Kvm.IsMirrored && root.IsMirror != Kvm.IsPrivate(gfn))
        {
            // kvm_mmu_faultin_pfn(): the access disagrees with the GFN's attribute, so userspace
            // must convert it first (kvm_mmu_prepare_memory_fault_exit).
            Kvm.Log.Add($"{what}: {(root.IsMirror ? "private" : "shared")} access to a {(Kvm.IsPrivate(gfn) ? "private" : "shared")} gfn, KVM_EXIT_MEMORY_FAULT");
            return new MmuAccess(AccessOutcome.Exit, gpa, 0, 0, false, Exit: "KVM_EXIT_MEMORY_FAULT");
        }

        return On(root, () => AccessOnRoot(vcpu, tlbGfn, gfn, gpa, access, what));
    }

    private MmuAccess AccessOnRoot(KvmVcpu vcpu, ulong tlbGfn, ulong gfn, ulong gpa, AccessKind access, string what)
    {
        if (vcpu.Tlb.TryGetValue(tlbGfn, out var cached) && cached.Allows(access))
        {
            Kvm.CheckTlbHit(vcpu, tlbGfn, cached, access);
            Kvm.Log.Add($"{what}: TLB hit");
            return MmuAccess.Done(gpa, cached.Pfn, 0, tlbHit: true);
        }

        var faults = 0;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            if (LeafFor(gfn) is { } leaf && Masks.Allows(leaf.Spte, access))
            {
                var spte = HardwareSetAccessedDirty(vcpu, gfn, access == AccessKind.Write);
                var pfn = TdpWalker.SpteToPfn(spte) + (gfn & (TdpWalker.PagesPerHpage(leaf.Level) - 1));
                var dirty = !SpteMasks.AdEnabled(spte) || (spte & Masks.DirtyMask) != 0;
                vcpu.Tlb[tlbGfn] = new TlbEntry(gfn, pfn, SpteMasks.IsWritable(spte), User: true, Masks.IsExecutable(spte), dirty);
                return MmuAccess.Done(gpa, pfn, faults, tlbHit: false);
            }

            // An EPT misconfiguration (NPT: a reserved-bit #NPF) on a cached MMIO SPTE: emulate at
            // once if its memslot generation is current, else drop it and take the slow path
            // (handle_mmio_page_fault).
            if (Entry4K(gfn) is { } entry && Masks.IsMmio(entry))
            {
                var generation = SpteMasks.MmioGeneration(entry);
                if (generation == (Kvm.MemslotGeneration & SpteValues.MMIO_SPTE_GEN_MASK))
                {
                    Kvm.Log.Add($"{what}: MMIO SPTE (generation {generation}) hit, RET_PF_EMULATE");
                    return MmuAccess.Emulate(gpa, faults);
                }

                Kvm.Log.Add($"{what}: stale MMIO SPTE (generation {generation}, memslots now {Kvm.MemslotGeneration}), slow path");
                ZapMmioSpte(gfn);
            }

            // The EPT violation is a VM exit, and __vmx_handle_exit() flushes the PML log first
            // (vmx_flush_pml_buffer), "this will make dirty_bitmap more updated".
            Kvm.FlushPmlBuffer(vcpu);
            faults++;
            vcpu.KvmPageFaults++;
            var slot = Kvm.FindSlot(gfn);

            if (PageFaultHandlePageTrack(gfn, access, slot))
            {
                Kvm.Log.Add($"{what}: write-tracked, RET_PF_WRITE_PROTECTED, write emulated (kvm_page_track_write)");
                return MmuAccess.Emulate(gpa, faults);
            }

            // No fast page fault on a mirror root: the S-EPT changes only through its hooks.
            var fast = WalkRoot.IsMirror ? PageFaultResult.Invalid : FastPageFault(gfn, access, slot);
            if (fast is PageFaultResult.Fixed)
            {
                Kvm.Log.Add($"{what}: fast page fault, RET_PF_FIXED");
                continue;
            }

            var result = PageFault(vcpu, gfn, access, out var exit);
            Kvm.Log.Add($"{what}: page fault, {(exit ?? "RET_PF_" + Upper(result))}");
            if (exit is not null)
            {
                return new MmuAccess(AccessOutcome.Exit, gpa, 0, faults, false, Exit: exit);
            }

            if (result is PageFaultResult.Emulate or PageFaultResult.WriteProtected)
            {
                return MmuAccess.Emulate(gpa, faults);
            }

            if (result == PageFaultResult.Retry && Kvm.MmuInvalidateInProgress > 0)
            {
                // The vCPU keeps re-faulting until the invalidation ends; the model runs the access then.
                Kvm.Log.Add($"{what}: waits for the invalidation to end");
                Kvm.RetryAfterInvalidation(() => Kvm.Run(vcpu, (tlbGfn << 12) | (gpa & 0xfff), GuestAccess.Of(access)));
                return new MmuAccess(AccessOutcome.WaitsForInvalidation, gpa, 0, faults, false);
            }
        }

        KvmWarn.On(true, $"{what}: still faulting after four attempts");
        return new MmuAccess(AccessOutcome.Exit, gpa, 0, faults, false, Exit: "-EFAULT");
    }

    /// <summary>
    /// page_fault_handle_page_track() (mmu.c), which kvm_tdp_mmu_page_fault() asks before
    /// fast_page_fault() and returns RET_PF_WRITE_PROTECTED on: a write fault (fault-&gt;write) on
    /// a present translation (fault-&gt;present: the EPT violation's RWX bits, NPT's P bit; an
    /// access-tracked SPTE has none) of a write-tracked GFN (kvm_gfn_is_write_tracked). A write to
    /// a tracked GFN with no present SPTE goes on to the map, where make_spte() leaves the new SPTE
    /// read-only (mmu_try_to_unsync_pages() says -EPERM) and tdp_mmu_map_handle_target_level()
    /// returns RET_PF_WRITE_PROTECTED; kvm_mmu_page_fault() hands both to
    /// kvm_mmu_write_protect_fault(), which, for a direct MMU and no nested guest, emulates.
    /// </summary>
    internal bool PageFaultHandlePageTrack(ulong gfn, AccessKind access, KvmMemorySlot? slot) =>
        access == AccessKind.Write && slot is not null && slot.IsWriteTracked(gfn)
        && LeafFor(gfn) is { } leaf && !Masks.IsAccessTrack(leaf.Spte);

    /// <summary>
    /// kvm_tdp_page_fault(): snapshot the invalidation sequence, resolve the host PFN, take
    /// mmu_lock, retry if an invalidation raced, pick the level, and map. A GFN no memslot
    /// holds is MMIO: emulated, and cached as an MMIO SPTE. A write to a read-only memslot is
    /// emulated too (KVM_PFN_ERR_RO_FAULT); a host page that cannot be had (munmapped, or a
    /// write to a read-only VMA) fails the fault: KVM_RUN returns -EFAULT with
    /// KVM_EXIT_MEMORY_FAULT (kvm_handle_error_pfn).
    /// </summary>
    public PageFaultResult PageFault(KvmVcpu vcpu, ulong gfn, AccessKind access) => PageFault(vcpu, gfn, access, out _);

    private PageFaultResult PageFault(KvmVcpu vcpu, ulong gfn, AccessKind access, out string? exit)
    {
        exit = null;
        var write = access == AccessKind.Write;
        var slot = Kvm.FindSlot(gfn);
        if (slot is null)
        {
            // kvm_handle_noslot_fault(): MMIO, cached as an MMIO SPTE tagged with the memslot
            // generation (GFNs beyond the TDP MMU's reach are emulated without one).
            if (gfn < TdpWalker.MaxGfnExclusive(RootLevel))
            {
                MapMmio(gfn, Kvm.MemslotGeneration);
            }

            Kvm.AfterOperation("kvm_tdp_page_fault");
            return PageFaultResult.Emulate;
        }

        if (write && slot.ReadOnly)
        {
            return PageFaultResult.Emulate;
        }

        if (WalkRoot.IsMirror)
        {
            return PrivatePageFault(gfn, access, slot);
        }

        var mmuSeq = Kvm.MmuInvalidateSeq;
        if (Kvm.FaultInPfn(slot, gfn, write) is not { } hostPte)
        {
            // hva_to_pfn() finds no VMA, or no writable one for a write: KVM_PFN_ERR_FAULT.
            Kvm.Log.Add($"vCPU {vcpu.Id} faults on gfn 0x{gfn:x}: no host page for the {(write ? "write" : "access")}, KVM_RUN returns -EFAULT (KVM_EXIT_MEMORY_FAULT)");
            exit = "-EFAULT";
            return PageFaultResult.Emulate;
        }

        var raced = false;
        while (Kvm.BeforeFaultTakesLock.TryDequeue(out var race))
        {
            race();
            raced = true;
        }

        if (Kvm.MmuInvalidateRetryGfn(mmuSeq, gfn))
        {
            return PageFaultResult.Retry;
        }

        // What ran before the lock may have changed the host page without an invalidation that
        // covers it (a model whose .change_pte() runs alone): map what the host maps now.
        if (raced && Kvm.Host.Lookup(slot.GfnToHvpn(gfn)) is { } now)
        {
            hostPte = now;
        }

        // kvm_mmu_hugepage_adjust(): a fetch under the NX huge page mitigation maps 4K, but
        // remembers the level it could have had (req_level) for NX recovery.
        var reqLevel = HugePageAdjust(slot, gfn);
        var hugePageDisallowed = access == AccessKind.Fetch && Kvm.NxHugePages;
        var goalLevel = hugePageDisallowed ? 1 : reqLevel;
        var hostPfn = hostPte.Pfn & ~(TdpWalker.PagesPerHpage(goalLevel) - 1);
        var result = Map(new TdpFault(gfn, hostPfn, reqLevel, goalLevel, access, hostPte.Writable, hugePageDisallowed, slot));
        Kvm.AfterOperation("kvm_tdp_page_fault");
        return result;
    }

    /// <summary>
    /// The private half of kvm_tdp_page_fault() in a TDX VM: the page comes from guest_memfd
    /// (kvm_mmu_faultin_pfn_private), and the mirror root maps it at 4K only.
    /// </summary>
    private PageFaultResult PrivatePageFault(ulong gfn, AccessKind access, KvmMemorySlot slot)
    {
        var mmuSeq = Kvm.MmuInvalidateSeq;
        var pfn = Kvm.GmemGetPfn(gfn);
        while (Kvm.BeforeFaultTakesLock.TryDequeue(out var race))
        {
            race();
        }

        if (Kvm.MmuInvalidateRetryGfn(mmuSeq, gfn))
        {
            return PageFaultResult.Retry;
        }

        var result = Map(new TdpFault(gfn, pfn, 1, 1, access, HostWritable: true, HugePageDisallowed: false, slot));
        Kvm.AfterOperation("kvm_tdp_page_fault");
        return result;
    }

    /// <summary>kvm_mmu_max_mapping_level() for a TDP fault, whose guest mapping never limits it.</summary>
    internal int HugePageAdjust(KvmMemorySlot slot, ulong gfn) => MaxMappingLevel(slot, gfn);

    /// <summary>
    /// kvm_tdp_mmu_map(): walk to the goal level, linking new tables (or splitting a huge page in
    /// the way), then install the leaf. The caller has checked the invalidation sequence.
    /// </summary>
    public PageFaultResult Map(TdpFault fault)
    {
        var gfn = fault.Gfn;
        for (var iter = StartWalk(1, gfn); iter.Valid && iter.Gfn < gfn + 1; iter.Next())
        {
            if (Kvm.NxHugePages)
            {
                DisallowedHugepageAdjust(ref fault, iter.OldSpte, iter.Level);
            }

            if (iter.Level == fault.GoalLevel)
            {
                return MapTargetLevel(ref iter, fault);
            }

            if (iter.IsPresent && !iter.IsLast)
            {
                continue;
            }

            LinkChild(ref iter, fault);
        }

        KvmWarn.On(true, $"kvm_tdp_mmu_map: walk for gfn 0x{gfn:x} ended above level {fault.GoalLevel}");
        return PageFaultResult.Retry;
    }

    /// <summary>
    /// kvm_tdp_mmu_map()'s step where the walk finds no table: tdp_mmu_alloc_sp(), then
    /// tdp_mmu_split_huge_page() over a huge SPTE or tdp_mmu_link_sp() over a non-present one.
    /// Out of line (once per 512 faults in a fault-in): inlined, its locals widened the frame that
    /// every fault's walk zeroes.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void LinkChild(ref TdpIter iter, in TdpFault fault)
    {
        var child = Tables.Alloc(Masks.NonPresentValue);
        if (iter.IsPresent)
        {
            // tdp_mmu_split_huge_page(): fill the new table from the huge SPTE, then link it.
            var table = Tables[child];
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                table[i] = Masks.MakeSmall(iter.OldSpte, iter.Level - 1, i, roleExecutable: true, Kvm.NxHugePages);
            }
        }

        if (fault.HugePageDisallowed)
        {
            _nxHugePageDisallowed.Add(child);
        }

        SetSpte(ref iter, Masks.MakeNonLeaf(child, !AdEnabled), "kvm_tdp_mmu_map");

        // track_possible_nx_huge_page(): this table stands where a huge page could be, were it
        // not for the mitigation; NX recovery may zap it so the huge page can come back.
        if (fault.HugePageDisallowed && fault.ReqLevel >= iter.Level)
        {
            _possibleNxHugePages.Add(new PossibleNxHugePage(child, iter.Gfn, iter.Level));
        }
    }

    /// <summary>
    /// disallowed_hugepage_adjust() (mmu.c): where a table already stands because an earlier fetch
    /// disallowed the huge page, map one level lower rather than replace the table with a huge
    /// SPTE, which would zap the executable 4K pages under it.
    /// </summary>
    private void DisallowedHugepageAdjust(ref TdpFault fault, ulong spte, int level)
    {
        if (level > 1 && level == fault.GoalLevel && TdpWalker.IsShadowPresent(spte) && !TdpWalker.IsLastSpte(spte, level)
            && _nxHugePageDisallowed.Contains(TdpWalker.SpteToPfn(spte)))
        {
            var pageMask = TdpWalker.PagesPerHpage(level) - TdpWalker.PagesPerHpage(level - 1);
            fault = fault with { Pfn = fault.Pfn | (fault.Gfn & pageMask), GoalLevel = level - 1 };
        }
    }

    /// <summary>tdp_mmu_map_handle_target_level(): the spurious check, make_spte(), the install, and the flush a replaced leaf needs.</summary>
    private PageFaultResult MapTargetLevel(ref TdpIter iter, TdpFault fault)
    {
        var (gfn, level, pfn) = (fault.Gfn, fault.GoalLevel, fault.Pfn);
        var slot = fault.Slot ?? throw new InvalidOperationException("the sequential fault maps a GFN without a memslot through MapMmio");

        // The spurious check: a present leaf that already allows the access (another vCPU fixed it).
        if (iter.IsPresent && iter.IsLast && Masks.Allows(iter.OldSpte, fault.Access))
        {
            KvmWarn.On(TdpWalker.SpteToPfn(iter.OldSpte) != pfn, $"spurious fault at gfn 0x{gfn:x} maps a different PFN");
            return PageFaultResult.Spurious;
        }

        // A read-only memslot maps without ACC_WRITE_MASK; a write-tracked GFN is refused W by
        // mmu_try_to_unsync_pages() inside make_spte(), and a write fault then reports
        // RET_PF_WRITE_PROTECTED. make_spte() marks the page dirty once the SPTE is writable.
        var access = (uint)Acc.ACC_ALL & (slot.ReadOnly ? ~(uint)Acc.ACC_WRITE_MASK : ~0u);
        var (newSpte, wrprot) = MakeSpte(level, !AdEnabled, slot, access, gfn, pfn, iter.OldSpte, prefetch: false, synchronizing: false, fault.HostWritable);
        if (newSpte == iter.OldSpte)
        {
            // "if (wrprot && fault->write) ret = RET_PF_WRITE_PROTECTED;" comes after the spurious
            // result is set, so it overrides it.
            return wrprot && fault.Access == AccessKind.Write ? PageFaultResult.WriteProtected : PageFaultResult.Spurious;
        }

        var old = iter.OldSpte;
        SetSpte(ref iter, newSpte, "kvm_tdp_mmu_map");
        if (TdpWalker.IsShadowPresent(old) && (!TdpWalker.IsLastSpte(old, level) || Masks.LeafChangeNeedsFlush(old, newSpte)))
        {
            FlushReplaced(iter.Gfn);
        }

        return wrprot && fault.Access == AccessKind.Write ? PageFaultResult.WriteProtected : PageFaultResult.Fixed;
    }

    /// <summary>The flush of a replaced present SPTE, its message built out of line: the fault path's frame stays small.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void FlushReplaced(ulong gfn) => FlushRemoteTlbs($"kvm_tdp_mmu_map: replaced a present SPTE at gfn 0x{gfn:x}");

    /// <summary>
    /// fast_page_fault(): fix a present leaf locklessly when the access failed only because W
    /// was cleared with MMU-writable kept (dirty logging), or because the SPTE is access-tracked
    /// (A/D bits off: R and X come back, and A); a huge leaf in a dirty-logged slot is not made
    /// writable (it must split). The page is marked dirty on a W 0 -&gt; 1 transition
    /// (fast_pf_fix_direct_spte).
    /// </summary>
    public PageFaultResult FastPageFault(ulong gfn, AccessKind access, KvmMemorySlot? slot)
    {
        if (LeafFor(gfn) is not { } leaf)
        {
            return PageFaultResult.Invalid;
        }

        var spte = leaf.Spte;
        if (Masks.Allows(spte, access))
        {
            return PageFaultResult.Spurious;
        }

        // Only an MMU without A/D bits has access-tracked SPTEs; restoring one makes it Accessed.
        var newSpte = spte;
        if (!AdEnabled && Masks.IsAccessTrack(spte))
        {
            newSpte = Masks.RestoreAccessTrack(spte) | Masks.AccessedMask;
        }

        if (access == AccessKind.Write && Masks.IsMmuWritable(spte))
        {
            newSpte |= SpteMasks.Writable;

            // "Do not fix write-permission on the large spte when dirty logging is enabled": only
            // the first page would be marked dirty; the slow path splits it instead.
            if (leaf.Level > 1 && slot is { DirtyTracked: true })
            {
                return PageFaultResult.Invalid;
            }
        }

        if (newSpte == spte || !Masks.Allows(newSpte, access))
        {
            return PageFaultResult.Invalid;
        }

        for (var iter = StartWalk(leaf.Level, gfn); iter.Valid && iter.Gfn <= gfn; iter.Next())
        {
            if (iter.Level == leaf.Level && iter.IsPresent && iter.IsLast)
            {
                SetSpte(ref iter, newSpte, "fast_page_fault");
                if (slot is not null && !SpteMasks.IsWritable(spte) && SpteMasks.IsWritable(newSpte))
                {
                    Kvm.MarkPageDirtyInSlot(slot, gfn);
                }

                return PageFaultResult.Fixed;
            }
        }

        return PageFaultResult.Invalid;
    }

    /// <summary>
    /// The CPU's page walk setting A, and D on a write, in the leaf it used. With A/D bits off
    /// (SPTE_TDP_AD_DISABLED) the hardware sets neither. A write that sets D is what PML logs
    /// (SDM "Page-Modification Logging": the guest-physical address goes in the log when the
    /// processor sets a dirty flag): <see cref="Kvm.PmlLogWrite"/>. Returns the leaf as it is now.
    /// </summary>
    private ulong HardwareSetAccessedDirty(KvmVcpu vcpu, ulong gfn, bool write)
    {
        var table = Tables[Root];
        for (var level = RootLevel; level >= 1; level--)
        {
            ref var spte = ref table[TdpWalker.SpteIndex(gfn | _walkRoot.GfnBits, level)];
            if (TdpWalker.IsLastSpte(spte, level))
            {
                if (SpteMasks.AdEnabled(spte))
                {
                    var setsDirty = write && (spte & Masks.DirtyMask) == 0;
                    spte |= Masks.AccessedMask | (write ? Masks.DirtyMask : 0);
                    if (setsDirty)
                    {
                        Kvm.PmlLogWrite(vcpu, gfn);
                    }
                }

                return spte;
            }

            table = Tables[TdpWalker.SpteToPfn(spte)];
        }

        return 0;
    }

    private static string Verb(AccessKind access) => access.Verb();

    private static string LevelName(int level) => global::SpecKit.Mmu.Kvm.Kvm.LevelName(level);

    internal static string Upper(PageFaultResult result) => result switch
    {
        PageFaultResult.WriteProtected => "WRITE_PROTECTED",
        _ => result.ToString().ToUpperInvariant(),
    };
}
