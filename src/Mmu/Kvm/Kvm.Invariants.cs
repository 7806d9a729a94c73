using SpecKit.Mmu.Tdp;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    /// <summary>
    /// Whether every ioctl and fault ends with <see cref="CheckInvariants"/>: on for scenarios, off
    /// for benchmarks, where a whole-tree check per fault would measure the checker.
    /// </summary>
    public bool CheckEveryOperation { get; set; } = true;

    private void AfterOperation(string name)
    {
        if (CheckEveryOperation)
        {
            CheckInvariants(name);
        }
    }

    /// <summary>
    /// The invariants checked after every MMU operation (docs in README.md): zapped entries hold
    /// SHADOW_NONPRESENT_VALUE; every allocated page table is reachable from the root (none leaked);
    /// leaves are in one of the four legal writable states; no SPTE maps a GFN whose invalidation
    /// is in progress.
    /// </summary>
    public void CheckInvariants(string after)
    {
        var reachable = 0;
        var mirrorLeaves = new SortedDictionary<ulong, ulong>();
        foreach (var root in Mmu.Roots)
        {
            Visit(root, root.TablePfn, TdpMmu.RootLevel, 0);
        }

        if (reachable != Mmu.Tables.LiveTables)
        {
            Violate("leaked page table", $"after {after}: {Mmu.Tables.LiveTables} tables allocated, {reachable} reachable from the roots");
        }

        // The mirror root and the S-EPT it stands for hold the same private mappings.
        if (Mmu.External is { } external && !mirrorLeaves.SequenceEqual(external.Leaves))
        {
            Violate("mirror and S-EPT differ", $"after {after}: the mirror root maps {Gfns(mirrorLeaves)}, the S-EPT {Gfns(external.Leaves)}");
        }

        static string Gfns(SortedDictionary<ulong, ulong> leaves) =>
            leaves.Count == 0 ? "nothing" : string.Join(", ", leaves.Select(l => $"0x{l.Key:x}->0x{l.Value:x}"));

        void Visit(TdpRoot root, ulong tablePfn, int level, ulong baseGfn)
        {
            reachable++;
            var table = Mmu.Tables[tablePfn];
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                var spte = table[i];
                var gfn = baseGfn + ((ulong)i * TdpWalker.PagesPerHpage(level));
                if (!TdpWalker.IsShadowPresent(spte))
                {
                    if (spte != SpteValues.SHADOW_NONPRESENT_VALUE && !(level == 1 && TdpMmu.IsMmioSpte(spte)))
                    {
                        Violate("non-present SPTE value", $"after {after}: gfn 0x{gfn:x} level {level} holds 0x{spte:x16}, not SHADOW_NONPRESENT_VALUE");
                    }

                    continue;
                }

                if (!TdpWalker.IsLastSpte(spte, level))
                {
                    Visit(root, TdpWalker.SpteToPfn(spte), level - 1, gfn);
                    continue;
                }

                // A TDX direct root maps GFNs with the shared bit; the invalidation range has none.
                gfn &= ~root.GfnBits;
                if (root.IsMirror && !root.Invalid)
                {
                    mirrorLeaves[gfn] = TdpWalker.SpteToPfn(spte);
                }

                var e = new EptSpte(spte);
                if ((e.MmuWritable && !e.HostWritable) || (e.Writable && !e.MmuWritable))
                {
                    Violate("writable state", $"after {after}: gfn 0x{gfn:x} has HostW={Bit(e.HostWritable)} MmuW={Bit(e.MmuWritable)} W={Bit(e.Writable)}");
                }

                if (MmuInvalidateInProgress > 0 && gfn < MmuInvalidateRangeEnd && gfn + TdpWalker.PagesPerHpage(level) > MmuInvalidateRangeStart)
                {
                    Violate("SPTE during invalidation", $"after {after}: gfn 0x{gfn:x} is mapped while [0x{MmuInvalidateRangeStart:x}, 0x{MmuInvalidateRangeEnd:x}) is being invalidated");
                }
            }
        }
    }

    private static int Bit(bool value) => value ? 1 : 0;

    /// <summary>
    /// The SPTE tree under the root, as indented text: what scenarios snapshot. Runs of leaves
    /// with the same flags and consecutive host pages are one line, so a split 2M page reads as
    /// the few lines that differ. Flags: W(ritable) M(MU-writable) H(ost-writable) A(ccessed) D(irty) X (executable).
    /// </summary>
    public string DescribeSptes()
    {
        var text = new System.Text.StringBuilder();
        if (Mmu.Roots.Count == 1)
        {
            Describe(Mmu.Roots[0].TablePfn, TdpMmu.RootLevel, 0, "");
            return text.Length == 0 ? "(no present SPTEs)" : text.ToString().TrimEnd();
        }

        // Several roots (a TDX VM's mirror and direct roots, or invalid roots): one section each,
        // GFNs shown as the root indexes them (a direct root's with the shared bit).
        foreach (var root in Mmu.Roots)
        {
            text.Append(root).Append(root.GfnBits != 0 ? $" (GFNs carry the shared bit 0x{root.GfnBits:x})" : "").Append(":\n");
            var before = text.Length;
            Describe(root.TablePfn, TdpMmu.RootLevel, 0, "  ");
            if (text.Length == before)
            {
                text.Append("  (no present SPTEs)\n");
            }
        }

        if (Mmu.External is { } external)
        {
            text.Append("S-EPT: ").Append(external.Leaves.Count == 0 ? "no mappings" : string.Join(", ", external.Leaves.Select(l => $"gfn 0x{l.Key:x} -> pfn 0x{l.Value:x}"))).Append('\n');
        }

        return text.ToString().TrimEnd();

        void Describe(ulong tablePfn, int level, ulong baseGfn, string indent)
        {
            var table = Mmu.Tables[tablePfn];
            var pages = TdpWalker.PagesPerHpage(level);
            (ulong Gfn, ulong Pfn, string Flags, int Count)? run = null;
            for (var i = 0; i < TdpWalker.EntriesPerTable; i++)
            {
                var spte = table[i];
                var gfn = baseGfn + ((ulong)i * pages);
                if (!TdpWalker.IsShadowPresent(spte))
                {
                    EndRun();
                    continue;
                }

                if (!TdpWalker.IsLastSpte(spte, level))
                {
                    EndRun();
                    text.Append(indent).Append(TdpWalker.LevelName(level)).Append(" gfn ").Append(Hex(gfn)).Append('\n');
                    Describe(TdpWalker.SpteToPfn(spte), level - 1, gfn, indent + "  ");
                    continue;
                }

                var e = new EptSpte(spte);
                var flags = MakeSpte.Describe(spte);
                if (run is { } r && r.Flags == flags && r.Pfn + ((ulong)r.Count * pages) == e.Pfn)
                {
                    run = r with { Count = r.Count + 1 };
                    continue;
                }

                EndRun();
                run = (gfn, e.Pfn, flags, 1);
            }

            EndRun();

            void EndRun()
            {
                if (run is not { } r)
                {
                    return;
                }

                var last = (ulong)(r.Count - 1) * pages;
                text.Append(indent).Append(LevelName(level)).Append(" gfn ").Append(Hex(r.Gfn)).Append(r.Count > 1 ? ".." + Hex(r.Gfn + last) : "")
                    .Append(" -> host pfn ").Append(Hex(r.Pfn)).Append(r.Count > 1 ? ".." + Hex(r.Pfn + last) : "")
                    .Append(' ').Append(r.Flags).Append('\n');
                run = null;
            }
        }
    }

    private static string Hex(ulong value) => "0x" + value.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}
