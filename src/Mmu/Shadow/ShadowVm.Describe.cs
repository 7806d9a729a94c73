using System.Globalization;
using System.Text;

namespace SpecKit.Mmu.Shadow;

public sealed partial class ShadowVm
{
    /// <summary>
    /// The shadow pages as indented text, from each vCPU's root down: a page by its gfn and
    /// role (and unsync), a leaf SPTE by the guest virtual page it translates, the frame, the
    /// shadowed access and its bits. A page linked twice is printed once; the valid pages no
    /// root reaches (kept hashed for reuse) follow.
    /// </summary>
    public string DescribeShadowPages()
    {
        var text = new StringBuilder();
        var seen = new HashSet<ShadowPage>();
        foreach (var group in Vcpus.Where(v => v.Root is not null).GroupBy(v => v.Root!))
        {
            text.Append("root of vCPU ").Append(string.Join(", ", group.Select(v => v.Id))).Append(": ");
            Describe(group.Key, 0, 0, 1);
        }

        var unreachable = Mmu.ActivePages.Where(sp => !seen.Contains(sp)).ToList();
        if (unreachable.Count > 0)
        {
            text.Append("not reachable from a root, still hashed:\n");
            foreach (var sp in unreachable.Where(sp => sp.ParentPtes.Count == 0 || sp.ParentPtes.All(p => !seen.Contains(p.Page))).ToList())
            {
                if (!seen.Contains(sp))
                {
                    text.Append("  ");
                    Describe(sp, 0, 0, 2);
                }
            }
        }

        return text.ToString();

        void Describe(ShadowPage sp, ulong vpnBase, int rootIndexDepth, int depth)
        {
            text.Append(sp).Append('\n');
            if (!seen.Add(sp))
            {
                return;
            }

            for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
            {
                var spte = sp.Spt[i];
                if (!Spte.IsShadowPresent(spte))
                {
                    continue;
                }

                var vpn = vpnBase | ((ulong)i << ((sp.Role.Level - 1) * GuestWalker.LevelBits));
                text.Append(' ', depth * 2).Append('[').Append(i.ToString(CultureInfo.InvariantCulture)).Append("] ");
                if (!Spte.IsLast(spte, sp.Role.Level))
                {
                    var child = Mmu.ChildOf(spte);
                    if (seen.Contains(child))
                    {
                        text.Append("-> ").Append(child).Append(" (above)\n");
                        continue;
                    }

                    Describe(child, vpn, rootIndexDepth + 1, depth + 1);
                    continue;
                }

                text.Append("gva 0x").Append(Canonical(vpn << GuestWalker.PageShift).ToString("x", CultureInfo.InvariantCulture))
                    .Append(" -> gfn 0x").Append(sp.GetGfn(i).ToString("x", CultureInfo.InvariantCulture))
                    .Append(" access ").Append(KvmMmuPageRole.DescribeAccess(sp.GetAccess(i)))
                    .Append(": ").Append(Spte.Describe(spte)).Append('\n');
            }
        }
    }

    /// <summary>Sign-extends bit 47, as a 4-level guest's addresses are canonical.</summary>
    private static ulong Canonical(ulong gva) => (gva & (1UL << 47)) != 0 ? gva | 0xffff_0000_0000_0000UL : gva;

    /// <summary>The log as text, one line per step.</summary>
    public string DescribeLog() => string.Join('\n', Log) + "\n";
}
