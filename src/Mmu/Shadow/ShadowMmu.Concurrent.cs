using SpecKit.Mmu.Concurrency;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

// The shadow MMU's vCPU path as a concurrent operation (src/Mmu/Concurrency): a guest access
// that may exit to KVM, step by step at the points where another vCPU can act. The shadow MMU
// takes mmu_lock for write for everything it changes (FNAME(page_fault), kvm_mmu_invalidate_addr,
// kvm_mmu_load, kvm_mmu_track_write), and reads guest memory without it (FNAME(walk_addr)), so the
// interleaving points are the CPU's access, the walk of the guest's tables, and each lock
// acquire and release. Another vCPU's guest store takes no lock at all when it goes through a
// writable SPTE (an unsync page's): it can land between any two of them.
public sealed partial class ShadowMmu
{
    /// <summary>
    /// A vCPU's guest access as a concurrent operation, with what it came to in
    /// <paramref name="outcome"/> (as <see cref="Kvm.Kvm.Run"/> returns it). Each entry into the
    /// guest is one step: the CPU takes the access through its TLB or the shadow tables, or takes
    /// a #PF KVM injected earlier. A #PF that exits to KVM is FNAME(page_fault) (paging_tmpl.h):
    /// FNAME(walk_addr) without mmu_lock; when the guest's tables forbid the access,
    /// kvm_inject_emulated_page_fault() invalidates the address under write_lock(mmu_lock)
    /// (kvm_mmu_invalidate_addr -> FNAME(sync_spte) for the unsync pages on the way) and queues
    /// the #PF; otherwise kvm_mmu_faultin_pfn(), write_lock(mmu_lock), is_page_fault_stale and
    /// FNAME(fetch), write_unlock, and the vCPU re-enters the guest. <paramref name="value"/> is
    /// what a store writes, computed when the store lands (a guest's read-modify-write of its PTE).
    /// </summary>
    public IEnumerable<Step> AccessConcurrently(ConcurrentKvm ctx, KvmVcpu vcpu, ulong gva, GuestAccess access, Func<ulong> value, GuestAccessResult[] outcome)
    {
        vcpu.ShadowMmu ??= new ShadowVcpuMmu();
        var what = $"vCPU {vcpu.Id} {access} 0x{gva:x}";
        var vpn = gva >> GuestWalker.PageShift;
        var exits = 0;
        for (var entry = 0; entry < MaxEntriesPerAccess; entry++)
        {
            if (vcpu.ShadowMmu.Root is not { Invalid: false } || vcpu.ShadowMmu.RootObsolete)
            {
                // kvm_mmu_load(): mmu_alloc_shadow_roots and kvm_mmu_sync_roots under write_lock(mmu_lock).
                foreach (var step in Locked(ctx, "kvm_mmu_load", () => KvmMmuReload(vcpu), vcpu))
                {
                    yield return step;
                }
            }

            yield return new Step(vcpu.PendingPageFault is null ? $"the CPU runs the {access} to 0x{gva:x}" : "the guest takes the #PF KVM injected");
            MmuAccess? done = null;
            ulong errorCode = 0;
            using (Kvm.AsRunning(vcpu))
            {
                if (vcpu.PendingPageFault is { } pending)
                {
                    vcpu.PendingPageFault = null;
                    vcpu.PageFaults.Add(pending);
                    Kvm.Log.Add($"{what}: the guest takes {pending}");
                    done = new MmuAccess(AccessOutcome.GuestPageFault, 0, 0, exits, false, pending);
                }
                else if (TlbHit(vcpu, gva, access, what) is { } cached)
                {
                    done = Complete(vcpu, gva, access, cached.Gfn, cached.Pfn, exits, tlbHit: true);
                }
                else
                {
                    var (leaf, index, present) = HardwareWalk(vcpu, gva);
                    if (leaf is not null && present && vcpu.HardwareMmu.PermissionFault(SpteAccess(leaf.Spt[index]), 0, access.Pfec) == 0)
                    {
                        var (gfn, pfn, spte) = HardwareFillTlb(vcpu, gva, access, leaf, index);
                        Kvm.Log.Add($"{what}: {(exits == 0 ? "TLB miss" : "after the fault")}, SPTE {Describe(spte)}");
                        done = Complete(vcpu, gva, access, gfn, pfn, exits, tlbHit: false);
                    }
                    else
                    {
                        // A #PF invalidates the TLB entries for the faulting address (SDM 4.10.4.1), then
                        // exits. MMIO SPTEs (PFERR_RSVD) are not modelled on this path.
                        KvmWarn.On(leaf is not null && Masks.IsMmio(leaf.Spt[index]), $"{what}: an MMIO SPTE on the concurrent path");
                        vcpu.Tlb.Remove(vpn);
                        errorCode = (present ? PfErr.PFERR_PRESENT_MASK : 0) | (access.Pfec & (PfErr.PFERR_WRITE_MASK | PfErr.PFERR_USER_MASK | PfErr.PFERR_FETCH_MASK));
                        vcpu.KvmPageFaults++;
                        exits++;
                        Kvm.Log.Add($"{what}: #PF ({PfErrorCode.Describe(errorCode)}) exits to KVM{(leaf is null ? "" : $", SPTE {Describe(leaf.Spt[index])}")}");
                    }
                }

                if (done is { Outcome: not AccessOutcome.Emulate } result)
                {
                    outcome[0] = Kvm.Finish(vcpu, gva, access, value(), result);
                    ctx.Changed = true;
                    yield break;
                }
            }

            if (done is { } emulated)
            {
                // x86_emulate_instruction(): a store to a write-tracked gfn ends in
                // kvm_mmu_track_write(), under write_lock(mmu_lock).
                foreach (var step in Locked(ctx, "x86_emulate_instruction", () => outcome[0] = Kvm.Finish(vcpu, gva, access, value(), emulated), vcpu))
                {
                    yield return step;
                }

                yield break;
            }

            // FNAME(page_fault): FNAME(walk_addr) reads the guest's tables without mmu_lock. One
            // step for the walk: a store by another vCPU to a gPTE is ordered against it by the
            // read of that gPTE alone, and the walk reads each gPTE once.
            yield return new Step("FNAME(walk_addr): reads the gPTEs");
            var fault = new ShadowFault(gva, errorCode);
            GuestWalk walker;
            bool walked;
            using (Kvm.AsRunning(vcpu))
            {
                walked = WalkAddr(vcpu, fault, out walker);
            }

            if (!walked)
            {
                // kvm_inject_emulated_page_fault(): kvm_mmu_invalidate_addr() for a #PF that is
                // neither not-present nor RSVD, then the #PF is queued for the next entry.
                if (InvalidatesAddr(walker.ErrorCode))
                {
                    foreach (var step in Locked(ctx, "kvm_mmu_invalidate_addr: FNAME(sync_spte)", () => InvalidateAddrForPageFault(vcpu, gva), vcpu))
                    {
                        yield return step;
                    }
                }

                vcpu.PendingPageFault = new GuestPageFault(gva, walker.ErrorCode);
                continue;
            }

            yield return new Step("kvm_mmu_faultin_pfn: reads mmu_invalidate_seq, resolves the host page");
            ulong mmuSeq;
            PageFaultResult? early;
            using (Kvm.AsRunning(vcpu))
            {
                early = FaultInPfn(vcpu, fault, walker, out mmuSeq);
            }

            var ret = early ?? PageFaultResult.Invalid;
            if (early is null)
            {
                foreach (var step in Locked(ctx, "FNAME(page_fault): is_page_fault_stale, FNAME(fetch)", () => ret = PageFaultLocked(vcpu, fault, walker, mmuSeq), vcpu))
                {
                    yield return step;
                }
            }

            Kvm.Log.Add($"{what}: FNAME(page_fault), RET_PF_{Upper(ret)}");
            if (fault.Exit is not null)
            {
                outcome[0] = Kvm.Finish(vcpu, gva, access, 0, new MmuAccess(AccessOutcome.Exit, 0, 0, exits, false, Exit: fault.Exit));
                yield break;
            }

            if (ret is PageFaultResult.WriteProtected or PageFaultResult.Emulate)
            {
                // The emulator translates the address with the guest walker; a #PF there is
                // injected as above, otherwise the access is emulated at the GPA.
                foreach (var step in Locked(ctx, "x86_emulate_instruction", () => outcome[0] = Kvm.Finish(vcpu, gva, access, value(), Emulate(vcpu, gva, access, exits, what)), vcpu))
                {
                    yield return step;
                }

                yield break;
            }

            KvmWarn.On(ret == PageFaultResult.Retry && LastFaultStale, $"{what}: an invalidation raced the fault, which the concurrent shadow path does not model");
        }

        KvmWarn.On(true, $"{what} did not complete in {MaxEntriesPerAccess} entries");
    }

    /// <summary>
    /// <paramref name="body"/> under write_lock(mmu_lock), as the shadow MMU runs everything that
    /// changes its pages (lockdep_assert_held_write in the rmap and sync paths): the acquire spins
    /// while anyone holds the lock, the body is one step, then write_unlock.
    /// </summary>
    private IEnumerable<Step> Locked(ConcurrentKvm ctx, string what, Action body, KvmVcpu vcpu)
    {
        yield return new Step($"{what}: write_lock(mmu_lock)", () => ctx.MmuLock.CanWrite, SpinsOnMmuLock: true);
        ctx.MmuLock.Take(ctx.Current, Policy.MmuLock.Write);
        yield return new Step(what);
        ctx.AssertHeld(Policy.MmuLock.Write, what);
        using (Kvm.AsRunning(vcpu))
        {
            body();
        }

        ctx.Changed = true;
        yield return new Step($"{what}: write_unlock(mmu_lock)");
        ctx.MmuLock.Release(ctx.Current, Policy.MmuLock.Write);
    }
}
