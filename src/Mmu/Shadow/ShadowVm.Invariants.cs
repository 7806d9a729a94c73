using SpecKit.Mmu.Kvm;

namespace SpecKit.Mmu.Shadow;

public sealed partial class ShadowVm
{
    /// <summary>Whether every operation ends with <see cref="CheckInvariants"/> (on for scenarios).</summary>
    public bool CheckEveryOperation { get; set; } = true;

    private void AfterOperation(string name)
    {
        if (CheckEveryOperation)
        {
            CheckInvariants(name);
        }
    }

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
    public void CheckInvariants(string after)
    {
        foreach (var sp in Mmu.ActivePages)
        {
            CheckPage(sp, after);
        }

        foreach (var (key, sptes) in Mmu.AllRmaps())
        {
            foreach (var (sp, index) in sptes)
            {
                var spte = sp.Spt[index];
                if (sp.Invalid || !Spte.IsShadowPresent(spte) || !Spte.IsLast(spte, sp.Role.Level) || sp.Role.Level != key.Level
                    || sp.GetGfn(index) >> ((key.Level - 1) * GuestWalker.LevelBits) != key.Index)
                {
                    Violate("rmap", $"after {after}: the rmap of level {key.Level} frame 0x{key.Index:x} holds {sp}[{index}] = {Spte.Describe(spte)}");
                }
            }
        }

        foreach (var root in Vcpus.Select(v => v.Root).OfType<ShadowPage>().Distinct())
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

        if (sp.HasGptes && sp.Role.Level > GuestWalker.PteLevel && !Mmu.IsWriteTracked(sp.Gfn))
        {
            Violate("upper-level table not write-tracked", $"after {after}: {sp}");
        }

        if (sp.HasGptes && !sp.Unsync)
        {
            foreach (var (mapper, index) in Mmu.Rmap(sp.Gfn).Where(m => Spte.IsWritable(m.Page.Spt[m.Index])))
            {
                Violate("shadowed guest table writable", $"after {after}: {mapper}[{index}] maps gfn 0x{sp.Gfn:x} writable while {sp} is in sync");
            }
        }

        for (var i = 0; i < GuestWalker.EntriesPerTable; i++)
        {
            var spte = sp.Spt[i];
            if (!Spte.IsShadowPresent(spte))
            {
                if (spte != SpteValues.SHADOW_NONPRESENT_VALUE)
                {
                    Violate("non-present SPTE value", $"after {after}: {sp}[{i}] holds 0x{spte:x16}");
                }

                continue;
            }

            var leaf = Spte.IsLast(spte, sp.Role.Level);
            if (!leaf)
            {
                var child = Mmu.ChildOf(spte);
                if (child.Invalid || child.Role.Level != sp.Role.Level - 1 || !child.ParentPtes.Contains((sp, i)))
                {
                    Violate("broken link", $"after {after}: {sp}[{i}] points at {child}");
                }
            }
            else if (!Mmu.Rmap(sp.GetGfn(i), sp.Role.Level).Contains((sp, i)))
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
        var gpte = Memory.ReadPte((sp.Gfn << GuestWalker.PageShift) + ((ulong)index * sizeof(ulong)));
        var where = $"after {after}: {sp.Name}[{index}] ({Spte.Describe(spte)})";
        if (!leaf)
        {
            var child = Mmu.ChildOf(spte);
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
            Violate("shadow page disagrees with its guest table", $"{where} maps gfn 0x{sp.GetGfn(index):x}, the gPTE is {Spte.DescribeGpte(gpte)}");
        }
        else if ((gpte & GuestPte4K.AccessedMask) == 0 || (Spte.IsWritable(spte) && (gpte & GuestPte4K.DirtyMask) == 0))
        {
            Violate("Accessed/Dirty lost", $"{where}: the gPTE {Spte.DescribeGpte(gpte)} would not be updated by the next {(Spte.IsWritable(spte) ? "write" : "access")}");
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
            if (Spte.IsShadowPresent(spte) && !Spte.IsLast(spte, sp.Role.Level))
            {
                CheckUnsyncMarked(Mmu.ChildOf(spte), marked && sp.UnsyncChildBitmap[i], after);
            }
        }
    }

    /// <summary>
    /// A #PF removes every TLB entry for the faulting address; under shadow paging KVM's SPTEs
    /// are the guest's TLB, so after kvm_inject_emulated_page_fault() an unsync page's SPTE for
    /// the address must have been dropped or brought in line with its gPTE (seed 004: "On a #PF,
    /// any TLB entries for the faulting virtual address are required to be removed").
    /// </summary>
    private void CheckPageFaultRemovedTranslation(ShadowVcpu vcpu, ulong addr)
    {
        var sp = vcpu.Root;
        var vpn = addr >> GuestWalker.PageShift;
        while (sp is not null)
        {
            var index = GuestWalker.SpteIndex(vpn, sp.Role.Level);
            var spte = sp.Spt[index];
            if (!Spte.IsShadowPresent(spte))
            {
                return;
            }

            if (!Spte.IsLast(spte, sp.Role.Level))
            {
                sp = Mmu.ChildOf(spte);
                continue;
            }

            if (!sp.Unsync)
            {
                return;
            }

            var gpte = Memory.ReadPte((sp.Gfn << GuestWalker.PageShift) + ((ulong)index * sizeof(ulong)));
            var now = GuestWalker.ProtectCleanGpte(sp.Role.Access & GuestWalker.GpteAccess(gpte), gpte);
            var valid = GuestWalker.IsPresentGpte(gpte) && (gpte & GuestPte4K.AccessedMask) != 0 && GuestWalker.GpteToGfn(gpte) == sp.GetGfn(index);
            if (!valid || sp.GetAccess(index) != now)
            {
                Violate(
                    "#PF left a stale translation",
                    $"after the #PF at 0x{addr:x}, {sp.Name}[{index}] still holds {Spte.Describe(spte)} (shadowed access {KvmMmuPageRole.DescribeAccess(sp.GetAccess(index))}) "
                    + $"while its gPTE {Spte.DescribeGpte(gpte)} grants {(valid ? KvmMmuPageRole.DescribeAccess(now) : "no translation")}");
            }

            return;
        }
    }

    /// <summary>Records a broken invariant; the scenario fails at its end unless a step claims it.</summary>
    private void Violate(string rule, string detail)
    {
        var violation = new Violation(rule, detail);
        Violations.Add(violation);
        Log.Add("INVARIANT BROKEN: " + violation);
    }
}
