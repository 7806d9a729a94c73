using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// Whether every ioctl and fault ends with <see cref="CheckInvariants"/>: on for scenarios, off
    /// for benchmarks, where a whole-tree check per fault would measure the checker.
    /// </summary>
    public bool CheckEveryOperation { get; set; } = true;

    internal void AfterOperation(string name)
    {
        if (CheckEveryOperation)
        {
            CheckInvariants(name);
        }
    }

    // The present leaves in the range under invalidation at the last check, so that one installed
    // while the invalidation is in progress shows, and one that is only not zapped yet does not.
    private HashSet<(ulong Gfn, int Level, ulong Pfn)>? _leavesUnderInvalidation;

    /// <summary>
    /// The range under invalidation grew to [MmuInvalidateRangeStart, MmuInvalidateRangeEnd) from
    /// [<paramref name="oldStart"/>, <paramref name="oldEnd"/>) (kvm_mmu_invalidate_range_add,
    /// before its zap): the leaves already in the new part were mapped before this invalidation
    /// and may stay until the zap reaches them. Taken here rather than at the next check, so that
    /// a set left from an earlier invalidation is never compared with this one's range.
    /// </summary>
    internal void RecordLeavesUnderInvalidation(ulong oldStart, ulong oldEnd)
    {
        if (!CheckEveryOperation)
        {
            return;
        }

        var set = oldStart == InvalidGpa ? [] : _leavesUnderInvalidation ?? [];
        foreach (var (gfn, level, spte) in Mmu.Leaves())
        {
            var pages = 1UL << (9 * (level - 1));
            var inNew = gfn < MmuInvalidateRangeEnd && gfn + pages > MmuInvalidateRangeStart;
            var inOld = oldStart != InvalidGpa && gfn < oldEnd && gfn + pages > oldStart;
            if (inNew && !inOld)
            {
                set.Add((gfn, level, SpteMasks.ToPfn(spte)));
            }
        }

        _leavesUnderInvalidation = set;
    }

    /// <summary>Every invalidation has ended (kvm_mmu_invalidate_end): nothing is under invalidation.</summary>
    internal void ForgetLeavesUnderInvalidation() => _leavesUnderInvalidation = null;

    /// <summary>
    /// The invariants every MMU keeps, checked after every operation (README.md states them):
    /// leaves are in one of the four legal writable states (check_spte_writable_invariants);
    /// no SPTE is installed for a GFN while an invalidation that covers it is in progress (the
    /// mmu_invalidate_seq protocol: an SPTE mapped before the invalidation may still be there while
    /// its zap yields); then the MMU's own (<see cref="X86Mmu.CheckInvariants"/>). The dirty log's
    /// rules are checked as pages are written and reported (<see cref="DirtyLogChecker"/>), and
    /// the TLB's as vCPUs use it.
    /// </summary>
    public void CheckInvariants(string after)
    {
        var masks = Mmu.Masks;
        var underInvalidation = MmuInvalidateInProgress > 0 && MmuInvalidateRangeStart != InvalidGpa ? new HashSet<(ulong, int, ulong)>() : null;
        foreach (var (gfn, level, spte) in Mmu.Leaves())
        {
            var (hostW, mmuW, w) = (masks.IsHostWritable(spte), masks.IsMmuWritable(spte), SpteMasks.IsWritable(spte));
            if ((mmuW && !hostW) || (w && !mmuW))
            {
                Violate("writable state", $"after {after}: gfn 0x{gfn:x} has HostW={Bit(hostW)} MmuW={Bit(mmuW)} W={Bit(w)}");
            }

            var pages = 1UL << (9 * (level - 1));
            if (underInvalidation is not null && gfn < MmuInvalidateRangeEnd && gfn + pages > MmuInvalidateRangeStart)
            {
                var leaf = (gfn, level, SpteMasks.ToPfn(spte));
                underInvalidation.Add(leaf);
                if (_leavesUnderInvalidation is not null && !_leavesUnderInvalidation.Contains(leaf))
                {
                    Violate("SPTE installed during invalidation", $"after {after}: gfn 0x{gfn:x} was mapped while [0x{MmuInvalidateRangeStart:x}, 0x{MmuInvalidateRangeEnd:x}) is being invalidated");
                }
            }
        }

        _leavesUnderInvalidation = underInvalidation;
        Mmu.CheckInvariants(after);
    }

    /// <summary>
    /// A vCPU used a TLB entry: it may not map another host page than the SPTE does now, nor grant
    /// more than the SPTE does, unless the change needed no flush (leaf_spte_change_needs_tlb_flush:
    /// only MMU-writable going 1 -&gt; 0 does). So a W cleared with MMU-writable kept (dirty logging:
    /// "KVM allows stale Writable TLB entries to exist" until the ioctl's flush) still counts as
    /// writable, and an access-tracked SPTE (clear_young never flushes) as its restored self. Under
    /// shadow paging the rights the guest's own tables give are the guest's to flush (INVLPG), so
    /// only the host page and W are KVM's.
    /// </summary>
    internal void CheckTlbHit(KvmVcpu vcpu, ulong tlbKey, TlbEntry cached, AccessKind access)
    {
        if (!CheckEveryOperation)
        {
            return;
        }

        var current = Mmu.CurrentTranslation(vcpu, tlbKey);
        var page = Shadow is null ? $"gfn 0x{tlbKey:x}" : $"gva 0x{tlbKey << 12:x}";
        if (current?.Pfn != cached.Pfn)
        {
            Violate("stale translation", $"vCPU {vcpu.Id} used a TLB entry for {page} -> host pfn 0x{cached.Pfn:x}, but the SPTE is {(current is null ? "not present" : $"host pfn 0x{current.Value.Pfn:x}")}");
            return;
        }

        var masks = Mmu.Masks;
        var spte = current.Value.Spte;
        var granted = masks.IsAccessTrack(spte) ? masks.RestoreAccessTrack(spte) : spte;
        if (masks.IsMmuWritable(spte))
        {
            granted |= SpteMasks.Writable;
        }

        var allowed = Shadow is null ? masks.Allows(granted, access) : access != AccessKind.Write || SpteMasks.IsWritable(granted);
        if (!allowed)
        {
            Violate("stale translation", $"vCPU {vcpu.Id} {access.Verb()} {page} through a TLB entry that allows it, but the SPTE does not ({masks.Describe(spte)})");
        }
    }

    private static int Bit(bool value) => value ? 1 : 0;

    /// <summary>The page tables under the MMU, as indented text: what scenarios snapshot.</summary>
    public string DescribeSptes() => Mmu.Describe();
}
