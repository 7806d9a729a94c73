namespace SpecKit.Mmu.Tdp;

public sealed partial class TdpMmu
{
    /// <summary>
    /// The TDP MMU's own invariants: zapped and never-used entries hold SHADOW_NONPRESENT_VALUE (or,
    /// at 4K, an MMIO SPTE); every allocated page table is reachable from a root, valid or invalid
    /// (none leaked); a TDX VM's mirror root and its S-EPT hold the same private mappings; and on
    /// EPT no present SPTE is writable without being readable, which the CPU takes as an EPT
    /// misconfiguration (the write-only and write-execute rows of bad_mt_xwr, __is_bad_mt_xwr:
    /// what make_spte()'s is_rsvd_spte() WARN catches).
    /// </summary>
    public override void CheckInvariants(string after)
    {
        var reachable = 0;
        var mirrorLeaves = new SortedDictionary<ulong, ulong>();
        foreach (var root in Roots)
        {
            Visit(root, root.TablePfn, RootLevel, 0);
        }

        // Tables unlinked on the shared path wait for their RCU grace period (tdp_mmu_free_sp_rcu_callback).
        if (reachable + _awaitingGracePeriod.Count != Tables.LiveTables)
        {
            Kvm.Violate("leaked page table", $"after {after}: {Tables.LiveTables} tables allocated, {reachable} reachable from the roots");
        }

        if (External is { } external && !mirrorLeaves.SequenceEqual(external.Leaves))
        {
            Kvm.Violate("mirror and S-EPT differ", $"after {after}: the mirror root maps {Gfns(mirrorLeaves)}, the S-EPT {Gfns(external.Leaves)}");
        }

        static string Gfns(SortedDictionary<ulong, ulong> leaves) =>
            leaves.Count == 0 ? "nothing" : string.Join(", ", leaves.Select(l => $"0x{l.Key:x}->0x{l.Value:x}"));

        void Visit(TdpRoot root, ulong tablePfn, int level, ulong baseGfn)
        {
            reachable++;
            var table = Tables[tablePfn];
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                var spte = table[i];
                var gfn = baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level));
                if (!TdpWalker.IsShadowPresent(spte))
                {
                    if (spte != Masks.NonPresentValue && !(level == 1 && Masks.IsMmio(spte)))
                    {
                        Kvm.Violate("non-present SPTE value", $"after {after}: gfn 0x{gfn:x} level {level} holds 0x{spte:x16}, not SHADOW_NONPRESENT_VALUE");
                    }

                    continue;
                }

                if (Kind == X86.MmuKind.TdpEpt && (spte & X86.SpteMasks.Writable) != 0 && (spte & Masks.UserMask) == 0)
                {
                    Kvm.Violate("EPT misconfiguration", $"after {after}: gfn 0x{gfn:x} level {level} is writable but not readable ({Masks.Describe(spte)})");
                }

                if (!TdpWalker.IsLastSpte(spte, level))
                {
                    Visit(root, TdpWalker.SpteToPfn(spte), level - 1, gfn);
                }
                else if (!root.Invalid)
                {
                    if (root.IsMirror)
                    {
                        mirrorLeaves[gfn & ~root.GfnBits] = TdpWalker.SpteToPfn(spte);
                    }

                    // page_track.c: a write to a write-tracked GFN must fault and be emulated, so
                    // no SPTE over one is writable once __kvm_write_track_add_gfn() has
                    // write-protected it (make_spte() then drops W: mmu_try_to_unsync_pages()
                    // says -EPERM). Only valid roots: kvm_tdp_mmu_write_protect_gfn() walks
                    // for_each_valid_tdp_mmu_root, as no vCPU uses an invalid one.
                    if (X86.SpteMasks.IsWritable(spte) && Kvm.FindSlot(gfn & ~root.GfnBits) is { } slot && slot.AnyWriteTracked(gfn & ~root.GfnBits, TdpWalker.PagesPerHpage(level))
                        && !Kvm.WriteTrackBeingAddedIn(gfn & ~root.GfnBits, TdpWalker.PagesPerHpage(level)))
                    {
                        Kvm.Violate("write-tracked gfn writable", $"after {after}: the {LevelName(level)} SPTE 0x{spte:x} at gfn 0x{gfn & ~root.GfnBits:x} is writable over a write-tracked gfn");
                    }
                }
            }
        }
    }

    /// <summary>
    /// The SPTE tree under the roots, as indented text: what scenarios snapshot. Runs of leaves
    /// with the same flags and consecutive host pages are one line, so a split 2M page reads as
    /// the few lines that differ. Flags: W(ritable) M(MU-writable) H(ost-writable) A(ccessed)
    /// D(irty) X (executable).
    /// </summary>
    public override string Describe()
    {
        var text = new System.Text.StringBuilder();
        if (Roots.Count == 1 && _awaitingGracePeriod.Count == 0)
        {
            DescribeTable(Roots[0].TablePfn, RootLevel, 0, "");
            return text.Length == 0 ? "(no present SPTEs)" : text.ToString().TrimEnd();
        }

        // Several roots (a TDX VM's mirror and direct roots, or invalid roots): one section each,
        // GFNs shown as the root indexes them (a direct root's with the shared bit).
        foreach (var root in Roots)
        {
            text.Append(root).Append(root.GfnBits != 0 ? $" (GFNs carry the shared bit 0x{root.GfnBits:x})" : "").Append(":\n");
            var before = text.Length;
            DescribeTable(root.TablePfn, RootLevel, 0, "  ");
            if (text.Length == before)
            {
                text.Append("  (no present SPTEs)\n");
            }
        }

        // Seen mid-schedule: tables handle_removed_pt() has unlinked (their entries going to
        // FROZEN_SPTE) and call_rcu() has not freed yet, which walkers that read the parent
        // before the unlink may still be inside.
        foreach (var (tablePfn, (baseGfn, level)) in _awaitingGracePeriod.OrderBy(t => t.Key))
        {
            text.Append("unlinked ").Append(TdpWalker.LevelName(level)).Append(" table at gfn ").Append(Hex(baseGfn))
                .Append(" (host pfn ").Append(Hex(tablePfn)).Append("), freed after the RCU grace period:\n");
            var before = text.Length;
            DescribeTable(tablePfn, level, baseGfn, "  ");
            if (text.Length == before)
            {
                text.Append("  (no present SPTEs)\n");
            }
        }

        if (External is { } external)
        {
            text.Append("S-EPT: ").Append(external.Leaves.Count == 0 ? "no mappings" : string.Join(", ", external.Leaves.Select(l => $"gfn 0x{l.Key:x} -> pfn 0x{l.Value:x}"))).Append('\n');
        }

        return text.ToString().TrimEnd();

        void DescribeTable(ulong tablePfn, int level, ulong baseGfn, string indent)
        {
            var table = Tables[tablePfn];
            var pages = TdpWalker.PagesPerHpage(level);
            (ulong Gfn, ulong Pfn, string Flags, int Count)? run = null;
            (ulong Gfn, int Count)? frozen = null;
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                var spte = table[i];
                var gfn = baseGfn + ((ulong)i * pages);

                // FROZEN_SPTE is not present, but it is not empty either: another walk owns the
                // entry (handle_removed_pt, a shared-path teardown), so a tree seen mid-schedule shows it.
                if (spte == Masks.FrozenSpte)
                {
                    EndRun();
                    frozen = frozen is { } f ? f with { Count = f.Count + 1 } : (gfn, 1);
                    continue;
                }

                EndFrozen();
                if (!TdpWalker.IsShadowPresent(spte))
                {
                    EndRun();
                    continue;
                }

                if (!TdpWalker.IsLastSpte(spte, level))
                {
                    EndRun();
                    text.Append(indent).Append(TdpWalker.LevelName(level)).Append(" gfn ").Append(Hex(gfn)).Append('\n');
                    DescribeTable(TdpWalker.SpteToPfn(spte), level - 1, gfn, indent + "  ");
                    continue;
                }

                var pfn = TdpWalker.SpteToPfn(spte);
                var flags = Masks.Describe(spte);
                if (run is { } r && r.Flags == flags && r.Pfn + ((ulong)r.Count * pages) == pfn)
                {
                    run = r with { Count = r.Count + 1 };
                    continue;
                }

                EndRun();
                run = (gfn, pfn, flags, 1);
            }

            EndRun();
            EndFrozen();

            void EndFrozen()
            {
                if (frozen is not { } f)
                {
                    return;
                }

                text.Append(indent).Append(global::SpecKit.Mmu.Kvm.Kvm.LevelName(level)).Append(" gfn ").Append(Hex(f.Gfn))
                    .Append(f.Count > 1 ? ".." + Hex(f.Gfn + ((ulong)(f.Count - 1) * pages)) : "").Append(" frozen (FROZEN_SPTE)\n");
                frozen = null;
            }

            void EndRun()
            {
                if (run is not { } r)
                {
                    return;
                }

                var last = (ulong)(r.Count - 1) * pages;
                text.Append(indent).Append(global::SpecKit.Mmu.Kvm.Kvm.LevelName(level)).Append(" gfn ").Append(Hex(r.Gfn)).Append(r.Count > 1 ? ".." + Hex(r.Gfn + last) : "")
                    .Append(" -> host pfn ").Append(Hex(r.Pfn)).Append(r.Count > 1 ? ".." + Hex(r.Pfn + last) : "")
                    .Append(' ').Append(r.Flags).Append('\n');
                run = null;
            }
        }
    }

    private static string Hex(ulong value) => "0x" + value.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}
