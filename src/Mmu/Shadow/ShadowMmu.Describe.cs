using System.Globalization;
using System.Text;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

public sealed partial class ShadowMmu
{
    /// <summary>
    /// The shadow pages as indented text, from each vCPU's root down: a page by its gfn and
    /// role (and unsync), a leaf SPTE by the guest virtual page it translates, the frame, the
    /// shadowed access and its bits. A page linked twice is printed once; the valid pages no
    /// root reaches (kept hashed for reuse) follow.
    /// </summary>
    public override string Describe()
    {
        var text = new StringBuilder();
        var seen = new HashSet<ShadowPage>();
        foreach (var group in Kvm.Vcpus.Where(v => v.ShadowMmu?.Root is not null).GroupBy(v => v.ShadowMmu!.Root!))
        {
            text.Append("root of vCPU ").Append(string.Join(", ", group.Select(v => v.Id))).Append(": ");
            DescribePage(group.Key, 0, 0, 1);
        }

        var unreachable = ActivePages.Where(sp => !seen.Contains(sp)).ToList();
        if (unreachable.Count > 0)
        {
            text.Append("not reachable from a root, still hashed:\n");
            foreach (var sp in unreachable.Where(sp => sp.ParentPtes.Count == 0 || sp.ParentPtes.All(p => !seen.Contains(p.Page))).ToList())
            {
                if (!seen.Contains(sp))
                {
                    text.Append("  ");
                    DescribePage(sp, 0, 0, 2);
                }
            }
        }

        return text.ToString();

        void DescribePage(ShadowPage sp, ulong vpnBase, int rootIndexDepth, int depth)
        {
            text.Append(sp).Append('\n');
            if (!seen.Add(sp))
            {
                return;
            }

            for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
            {
                var spte = sp.Spt[i];
                if (!SpteMasks.IsShadowPresent(spte))
                {
                    continue;
                }

                var vpn = vpnBase | ((ulong)i << ((sp.Role.Level - 1) * GuestWalker.LevelBits));
                text.Append(' ', depth * 2).Append('[').Append(i.ToString(CultureInfo.InvariantCulture)).Append("] ");
                if (!SpteMasks.IsLast(spte, sp.Role.Level))
                {
                    var child = ChildOf(spte);
                    if (seen.Contains(child))
                    {
                        text.Append("-> ").Append(child).Append(" (above)\n");
                        continue;
                    }

                    DescribePage(child, vpn, rootIndexDepth + 1, depth + 1);
                    continue;
                }

                text.Append("gva 0x").Append(Canonical(vpn << GuestWalker.PageShift).ToString("x", CultureInfo.InvariantCulture))
                    .Append(" -> gfn 0x").Append(sp.GetGfn(i).ToString("x", CultureInfo.InvariantCulture))
                    .Append(" access ").Append(KvmMmuPageRole.DescribeAccess(sp.GetAccess(i)))
                    .Append(": ").Append(Describe(spte)).Append('\n');
            }
        }
    }

    /// <summary>Sign-extends bit 47, as a 4-level guest's addresses are canonical.</summary>
    private static ulong Canonical(ulong gva) => (gva & (1UL << 47)) != 0 ? gva | 0xffff_0000_0000_0000UL : gva;

    /// <summary>A 4K gPTE as the log shows it: <c>P W U A D NX -> gfn 0x1000</c>, or <c>not present</c>.</summary>
    public static string DescribeGpte(ulong gpte)
    {
        var e = new GuestPte4K(gpte);
        if (!e.Present)
        {
            return "not present";
        }

        var bits = new List<string> { "P" };
        if (e.Writable) bits.Add("W");
        if (e.User) bits.Add("U");
        if (e.Accessed) bits.Add("A");
        if (e.Dirty) bits.Add("D");
        if (e.Nx) bits.Add("NX");
        return $"{string.Join(' ', bits)} -> gfn 0x{e.PageAddr:x}";
    }

    /// <summary>A leaf's rights and bits for snapshots: <c>P W U A D M H NX</c> as set.</summary>
    public string Describe(ulong spte)
    {
        if (!SpteMasks.IsShadowPresent(spte))
        {
            return Masks.IsMmio(spte) ? $"MMIO gfn 0x{Masks.MmioGfn(spte):x}" : "not present";
        }

        var bits = new List<string> { "P" };
        if (SpteMasks.IsWritable(spte)) bits.Add("W");
        if ((spte & Masks.UserMask) != 0) bits.Add("U");
        if ((spte & Masks.AccessedMask) != 0) bits.Add("A");
        if ((spte & Masks.DirtyMask) != 0) bits.Add("D");
        if (Masks.IsMmuWritable(spte)) bits.Add("MMU-W");
        if (Masks.IsHostWritable(spte)) bits.Add("HOST-W");
        if (!Masks.IsExecutable(spte)) bits.Add("NX");
        return string.Join(' ', bits);
    }
}
