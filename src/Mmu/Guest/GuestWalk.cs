using System.Runtime.CompilerServices;
using System.Text;

namespace SpecKit.Mmu.Guest;

/// <summary>
/// What one guest walk found: paging_tmpl.h's struct guest_walker. Per-level arrays are
/// indexed by level as the kernel's are by level - 1, and sit inline so that a walk allocates
/// nothing. A walk that faulted stops at <see cref="Level"/>, the level of the entry at fault.
/// </summary>
public struct GuestWalk
{
    internal LevelWords Ptes;
    internal LevelWords PteGpas;
    internal LevelWords TableGfns;
    internal LevelWords PtAccesses;

    /// <summary>The guest virtual address walked.</summary>
    public ulong Addr { get; internal set; }

    /// <summary>The access, as PFERR_* bits.</summary>
    public ulong Access { get; internal set; }

    /// <summary>walker->max_level: the root level.</summary>
    public int MaxLevel { get; internal set; }

    /// <summary>walker->level: the leaf's level (1 = 4K, 2 = 2M, 3 = 1G), or the level that faulted.</summary>
    public int Level { get; internal set; }

    /// <summary>Whether the walk faulted; <see cref="ErrorCode"/> is then the #PF error code.</summary>
    public bool Faulted { get; internal set; }

    /// <summary>walker->fault.error_code.</summary>
    public ulong ErrorCode { get; internal set; }

    /// <summary>walker->pte_access: the rights granted (ACC_* uwx), W removed for a clean leaf unless the access wrote.</summary>
    public uint PteAccess { get; internal set; }

    /// <summary>walker->gfn: the guest frame the address translates to.</summary>
    public ulong Gfn { get; internal set; }

    /// <summary>The guest-physical address the address translates to.</summary>
    public ulong Gpa { get; internal set; }

    /// <summary>Levels whose Accessed bit this walk set, as bit (level - 1).</summary>
    public int AccessedSetLevels { get; internal set; }

    /// <summary>Whether this walk set the leaf's Dirty bit.</summary>
    public bool DirtySet { get; internal set; }

    /// <summary>How many times the walk restarted because a PTE changed under its A/D update.</summary>
    public int Retries { get; internal set; }

    /// <summary>walker->ptes[level - 1]: the entry read at <paramref name="level"/> (after the walk's A/D update).</summary>
    public readonly ulong Pte(int level) => Ptes[level - 1];

    /// <summary>walker->pte_gpa[level - 1]: where that entry lives.</summary>
    public readonly ulong PteGpa(int level) => PteGpas[level - 1];

    /// <summary>walker->table_gfn[level - 1]: the table that holds it.</summary>
    public readonly ulong TableGfn(int level) => TableGfns[level - 1];

    /// <summary>walker->pt_access[level - 1]: the rights of the levels above it (ACC_* uwx).</summary>
    public readonly uint PtAccess(int level) => GuestWalker.PtAccessOf(PtAccesses[level - 1]);

    /// <summary>The walk as indented text, root first: each entry typed by its level's layout, then the result.</summary>
    public readonly string Describe()
    {
        var text = new StringBuilder();
        text.Append("walk 0x").Append(Addr.ToString("x16", System.Globalization.CultureInfo.InvariantCulture))
            .Append(" (").Append(DescribeAccess(Access)).Append(')').Append('\n');
        for (var level = MaxLevel; level >= Level && level >= 1; level--)
        {
            text.Append("  ").Append(GuestWalker.LevelName(level).PadRight(6))
                .Append(" @ 0x").Append(PteGpa(level).ToString("x", System.Globalization.CultureInfo.InvariantCulture))
                .Append(": ").Append(GuestWalker.DescribeGpte(Pte(level), level)).Append('\n');
        }

        if (Faulted)
        {
            text.Append("  #PF error code 0x").Append(ErrorCode.ToString("x", System.Globalization.CultureInfo.InvariantCulture))
                .Append(" (").Append(PfErrorCode.Describe(ErrorCode)).Append(")\n");
        }
        else
        {
            text.Append("  -> gpa 0x").Append(Gpa.ToString("x", System.Globalization.CultureInfo.InvariantCulture))
                .Append(" (").Append(PageSizeName(Level)).Append(" page)\n");
        }

        return text.ToString();
    }

    public override readonly string ToString() => Describe();

    internal static string PageSizeName(int level) => level switch
    {
        1 => "4K",
        2 => "2M",
        3 => "1G",
        _ => "level " + level.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string DescribeAccess(ulong access)
    {
        var kind = (access & PfErr.PFERR_WRITE_MASK) != 0 ? GuestAccessKind.Write
            : (access & PfErr.PFERR_FETCH_MASK) != 0 ? GuestAccessKind.Fetch
            : GuestAccessKind.Read;
        return new GuestAccess((access & PfErr.PFERR_USER_MASK) != 0, kind, (access & PfErr.PFERR_IMPLICIT_ACCESS) != 0).ToString();
    }

    [InlineArray(GuestWalker.MaxRootLevel)]
    internal struct LevelWords
    {
        private ulong _element0;
    }
}
