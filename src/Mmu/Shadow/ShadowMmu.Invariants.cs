using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;

namespace SpecKit.Mmu.Shadow;

public sealed partial class ShadowMmu
{
    /// <summary>
    /// The shadow MMU's invariants (mmu.rst "Synchronized and unsync pages", rmaps and links):
    /// <list type="bullet">
    /// <item>links: a non-leaf SPTE points at a valid page one level down that lists it as a parent;</item>
    /// <item>rmaps: every present leaf SPTE is in the rmap of the frame it maps, and nothing else is;</item>
    /// <item>write protection: a guest table shadowed by a page that is not unsync has no writable SPTE
    /// mapping it, and an upper-level one is write-tracked; only 4K pages are unsync;</item>
    /// <item>a page that is not unsync agrees with its guest table: each present SPTE's gPTE is present
    /// and names the same frame (or table), and it has A, and D if the SPTE is writable (else the
    /// guest would miss an Accessed/Dirty update);</item>
    /// <item>every unsync page under a root is marked on the path from the root (unsync_child_bitmap),
    /// or kvm_mmu_sync_roots would not find it.</item>
    /// </list>
    /// </summary>
    public override void CheckInvariants(string after)
    {
        foreach (var sp in ActivePages)
        {
            CheckPage(sp, after);
        }

        foreach (var (level, gfn, sptes) in AllRmaps())
        {
            var shift = (level - 1) * GuestWalker.LevelBits;
            foreach (var (sp, index) in sptes)
            {
                var spte = sp.Spt[index];
                if (sp.Invalid || !SpteMasks.IsShadowPresent(spte) || !SpteMasks.IsLast(spte, sp.Role.Level) || sp.Role.Level != level
                    || sp.GetGfn(index) >> shift != gfn >> shift)
                {
                    Violate("rmap", $"after {after}: the level {level} rmap of gfn 0x{gfn:x} holds {sp}[{index}] = {Describe(spte)}");
                }
            }
        }

        foreach (var root in Kvm.Vcpus.Select(v => v.ShadowMmu?.Root).OfType<ShadowPage>().Distinct())
        {
            CheckUnsyncMarked(root, marked: true, after);
        }
    }

    private void CheckPage(ShadowPage sp, string after)
    {
        if (sp.Unsync && sp.Role.Level != GuestWalker.PteLevel)
        {
            Violate("unsync above 4K", $"after {after}: {sp}");
        }

        if (sp.HasGptes && sp.Role.Level > GuestWalker.PteLevel && !IsWriteTracked(sp.Gfn))
        {
            Violate("upper-level table not write-tracked", $"after {after}: {sp}");
        }

        if (sp.HasGptes && !sp.Unsync)
        {
            foreach (var (mapper, index) in Rmap(sp.Gfn).Where(m => SpteMasks.IsWritable(m.Page.Spt[m.Index])))
            {
                Violate("shadowed guest table writable", $"after {after}: {mapper}[{index}] maps gfn 0x{sp.Gfn:x} writable while {sp} is in sync");
            }
        }

        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            var spte = sp.Spt[i];
            if (!SpteMasks.IsShadowPresent(spte))
            {
                if (spte != Masks.NonPresentValue && !Masks.IsMmio(spte))
                {
                    Violate("non-present SPTE value", $"after {after}: {sp}[{i}] holds 0x{spte:x16}");
                }

                continue;
            }

            var leaf = SpteMasks.IsLast(spte, sp.Role.Level);
            if (!leaf)
            {
                var child = ChildOf(spte);
                if (child.Invalid || child.Role.Level != sp.Role.Level - 1 || !child.ParentPtes.Contains((sp, i)))
                {
                    Violate("broken link", $"after {after}: {sp}[{i}] points at {child}");
                }
            }
            else if (!Rmap(sp.GetGfn(i), sp.Role.Level).Contains((sp, i)))
            {
                Violate("rmap", $"after {after}: {sp}[{i}] maps gfn 0x{sp.GetGfn(i):x} but is not in its rmap");
            }

            if (sp.HasGptes && !sp.Unsync)
            {
                CheckAgainstGpte(sp, i, spte, leaf, after);
            }
        }
    }

    private void CheckAgainstGpte(ShadowPage sp, int index, ulong spte, bool leaf, string after)
    {
        // A guest table whose host page is gone (munmap) cannot be read, by KVM either: the page
        // stays as it was until a sync reads it and zaps it (FNAME(sync_spte) returns -1 when
        // kvm_vcpu_read_guest_atomic fails, and kvm_sync_page zaps the page).
        if (!Kvm.GuestMemory.TryReadPte((sp.Gfn << GuestWalker.PageShift) + ((ulong)index * sizeof(ulong)), out var gpte))
        {
            return;
        }

        var where = $"after {after}: {sp.Name}[{index}] ({Describe(spte)})";
        if (!leaf)
        {
            var child = ChildOf(spte);
            if (!child.Role.Direct && (!GuestWalker.IsPresentGpte(gpte) || GuestWalker.GpteToGfn(gpte) != child.Gfn))
            {
                Violate("shadow page disagrees with its guest table", $"{where} leads to gfn 0x{child.Gfn:x}, the gPTE is {GuestWalker.DescribeGpte(gpte, sp.Role.Level)}");
            }

            return;
        }

        if (sp.Role.Level != GuestWalker.PteLevel)
        {
            return;
        }

        if (!GuestWalker.IsPresentGpte(gpte) || GuestWalker.GpteToGfn(gpte) != sp.GetGfn(index))
        {
            Violate("shadow page disagrees with its guest table", $"{where} maps gfn 0x{sp.GetGfn(index):x}, the gPTE is {DescribeGpte(gpte)}");
        }
        else if ((gpte & GuestPte4K.AccessedMask) == 0 || (SpteMasks.IsWritable(spte) && (gpte & GuestPte4K.DirtyMask) == 0))
        {
            Violate("Accessed/Dirty lost", $"{where}: the gPTE {DescribeGpte(gpte)} would not be updated by the next {(SpteMasks.IsWritable(spte) ? "write" : "access")}");
        }
    }

    private void CheckUnsyncMarked(ShadowPage sp, bool marked, string after)
    {
        if (sp.Unsync && !marked)
        {
            Violate("unsync page hidden from kvm_mmu_sync_roots", $"after {after}: {sp} is unsync but a parent's unsync_child_bitmap misses it");
        }

        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            var spte = sp.Spt[i];
            if (SpteMasks.IsShadowPresent(spte) && !SpteMasks.IsLast(spte, sp.Role.Level))
            {
                CheckUnsyncMarked(ChildOf(spte), marked && sp.UnsyncChildBitmap[i], after);
            }
        }
    }

    /// <summary>
    /// A #PF removes every TLB entry for the faulting address; under shadow paging KVM's SPTEs
    /// are the guest's TLB, so after kvm_inject_emulated_page_fault() an unsync page's SPTE for
    /// the address must have been dropped or brought in line with its gPTE (seed 004: "On a #PF,
    /// any TLB entries for the faulting virtual address are required to be removed").
    /// </summary>
    private void CheckPageFaultRemovedTranslation(KvmVcpu vcpu, ulong addr)
    {
        var sp = vcpu.ShadowMmu?.Root;
        var vpn = addr >> GuestWalker.PageShift;
        while (sp is not null)
        {
            var index = GuestWalker.SpteIndex(vpn, sp.Role.Level);
            var spte = sp.Spt[index];
            if (!SpteMasks.IsShadowPresent(spte))
            {
                return;
            }

            if (!SpteMasks.IsLast(spte, sp.Role.Level))
            {
                sp = ChildOf(spte);
                continue;
            }

            if (!sp.Unsync)
            {
                return;
            }

            var gpte = ReadGpte((sp.Gfn << GuestWalker.PageShift) + ((ulong)index * sizeof(ulong)));
            var now = GuestWalker.ProtectCleanGpte(sp.Role.Access & GuestWalker.GpteAccess(gpte), gpte);
            var valid = GuestWalker.IsPresentGpte(gpte) && (gpte & GuestPte4K.AccessedMask) != 0 && GuestWalker.GpteToGfn(gpte) == sp.GetGfn(index);
            if (!valid || sp.GetAccess(index) != now)
            {
                Violate(
                    "#PF left a stale translation",
                    $"after the #PF at 0x{addr:x}, {sp.Name}[{index}] still holds {Describe(spte)} (shadowed access {KvmMmuPageRole.DescribeAccess(sp.GetAccess(index))}) "
                    + $"while its gPTE {DescribeGpte(gpte)} grants {(valid ? KvmMmuPageRole.DescribeAccess(now) : "no translation")}");
            }

            return;
        }
    }

    private void Violate(string rule, string detail) => Kvm.Violate(rule, detail);

    /// <summary>The gPTE at <paramref name="gpa"/> as the checker reads it (zero where nothing backs it).</summary>
    private ulong ReadGpte(ulong gpa) => Kvm.GuestMemory.TryReadPte(gpa, out var gpte) ? gpte : 0;
}
