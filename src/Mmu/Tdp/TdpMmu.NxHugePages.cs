namespace SpecKit.Mmu.Tdp;

/// <summary>A page table that stands where a huge page could be, but for the NX huge page mitigation.</summary>
public readonly record struct PossibleNxHugePage(ulong TablePfn, ulong Gfn, int Level);

public sealed partial class TdpMmu
{
    // sp->nx_huge_page_disallowed: tables linked by a fetch that the mitigation kept from mapping huge.
    private readonly HashSet<ulong> _nxHugePageDisallowed = [];

    // kvm->arch.possible_nx_huge_pages, oldest first: what kvm_recover_nx_huge_pages() zaps.
    private readonly List<PossibleNxHugePage> _possibleNxHugePages = [];

    public IReadOnlyList<PossibleNxHugePage> PossibleNxHugePages => _possibleNxHugePages;

    /// <summary>
    /// kvm_recover_nx_huge_pages() (the kvm-nx-lpage-recovery thread): zap the oldest
    /// <paramref name="count"/> possible NX huge pages, so the next non-fetch fault maps huge
    /// again. A table in a dirty-tracked slot is only unaccounted: it could not become huge.
    /// Returns whether a flush is owed.
    /// </summary>
    public bool RecoverNxHugePages(int count)
    {
        var flush = false;
        foreach (var sp in _possibleNxHugePages.Take(count).ToList())
        {
            if (Kvm.FindSlot(sp.Gfn) is { DirtyTracked: true })
            {
                UntrackPossibleNxHugePage(sp.TablePfn);
                Kvm.Log.Add($"NX recovery: gfn 0x{sp.Gfn:x} is in a dirty-tracked slot, unaccounted");
                continue;
            }

            for (var iter = StartWalk(sp.Level, sp.Gfn); iter.Valid && iter.Gfn <= sp.Gfn; iter.Next())
            {
                if (iter.Level == sp.Level && iter.Gfn == sp.Gfn && iter.IsPresent && !iter.IsLast && TdpWalker.SpteToPfn(iter.OldSpte) == sp.TablePfn)
                {
                    // kvm_tdp_mmu_zap_possible_nx_huge_page(): zap the SPTE that links the table.
                    SetSpte(ref iter, Masks.NonPresentValue, "kvm_recover_nx_huge_pages");
                    Kvm.Log.Add($"NX recovery: zapped the {LevelName(sp.Level - 1)} table at gfn 0x{sp.Gfn:x}");
                    flush = true;
                    break;
                }
            }
        }

        return flush;
    }

    /// <summary>unaccount_nx_huge_page() / untrack_possible_nx_huge_page(), when a table is freed.</summary>
    private void UntrackPossibleNxHugePage(ulong tablePfn)
    {
        if (_nxHugePageDisallowed.Remove(tablePfn))
        {
            _possibleNxHugePages.RemoveAll(sp => sp.TablePfn == tablePfn);
        }
    }
}
