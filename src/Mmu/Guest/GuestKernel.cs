namespace SpecKit.Mmu.Guest;

/// <summary>
/// The guest operating system of a shadow-paging VM, as far as KVM can see it: a 64-bit kernel
/// that lays out its page tables in its RAM before it runs (through the VMM's mapping: KVM sees
/// none of it), maps all of RAM and its own tables at <see cref="Kvm.Kvm.DirectMapBase"/> (Linux's
/// direct map: PAGE_KERNEL, present, writable, accessed and dirty, so KVM's walker has no A/D bit
/// to set there), then boots its vCPUs with KVM_SET_SREGS and changes its tables only by storing
/// to them through the direct map, where the shadow MMU sees the stores.
/// </summary>
public sealed class GuestKernel(Kvm.Kvm kvm, ulong tableBaseGfn = GuestPageTables.DefaultTableBaseGfn)
{
    private GuestPageTables? _tables;

    public Kvm.Kvm Kvm { get; } = kvm;

    /// <summary>The guest's page tables (CR3 is their root), built in guest memory on first use.</summary>
    public GuestPageTables Tables => _tables ??= new GuestPageTables(Kvm.UserMemory, GuestWalker.Pml4eLevel, tableBaseGfn);

    /// <summary>Whether the vCPUs are running (after <see cref="Boot"/>).</summary>
    public bool Booted { get; private set; }

    /// <summary>
    /// The guest maps <paramref name="gva"/> while it boots, before KVM shadows anything (see
    /// <see cref="GuestPageTables.Map"/>). Once the guest runs it changes its tables by storing
    /// to them (<see cref="WriteGpte"/>).
    /// </summary>
    public void MapAtBoot(ulong gva, ulong gpa, params ReadOnlySpan<ulong> entryBits)
    {
        EnsureNotBooted();
        Tables.Map(gva, gpa, entryBits);
    }

    /// <summary>
    /// While it boots, the guest points its entry at <paramref name="level"/> for
    /// <paramref name="gva"/> at a table that already exists, so that two entries share one
    /// table (two PUDs, one PMD page).
    /// </summary>
    public void LinkAtBoot(ulong gva, int level, ulong tableGpa, ulong entryBits)
    {
        EnsureNotBooted();
        Tables.Memory.WritePte(Tables.EntryGpa(gva, level), entryBits | new GuestPteNonLeaf(0).WithTableAddr(tableGpa >> GuestWalker.PageShift).Raw);
    }

    /// <summary>
    /// The guest boots: it maps its page tables, then all of RAM (every memslot), in its direct
    /// map, supervisor read-write, as Linux's direct map does, so that it can write its tables
    /// and any page; then each vCPU gets <paramref name="cpu"/> with CR3 at the root table.
    /// </summary>
    public void Boot(GuestCpuState cpu)
    {
        EnsureNotBooted();
        const ulong table = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask | GuestPteNonLeaf.AccessedMask;
        const ulong leaf = GuestPte4K.PresentMask | GuestPte4K.WritableMask | GuestPte4K.AccessedMask | GuestPte4K.DirtyMask;
        var mapped = 0;
        while (mapped < Tables.TableCount)
        {
            var gfn = Tables.TableBaseGfn + (ulong)mapped++;
            Tables.Map(DirectMap(gfn << GuestWalker.PageShift), gfn << GuestWalker.PageShift, table, table, table, leaf);
        }

        foreach (var slot in Kvm.Memslots.OrderBy(s => s.BaseGfn))
        {
            _ram.Add((slot.BaseGfn, slot.EndGfn));
            for (var gfn = slot.BaseGfn; gfn < slot.EndGfn; gfn++)
            {
                Tables.Map(DirectMap(gfn << GuestWalker.PageShift), gfn << GuestWalker.PageShift, table, table, table, leaf);
            }
        }

        // The tables the RAM map added are RAM, mapped above.
        Booted = true;
        foreach (var vcpu in Kvm.Vcpus)
        {
            Kvm.SetSregs(vcpu, cpu with { Cr3 = cpu.Cr3 == 0 ? Tables.RootGpa : cpu.Cr3 });
        }
    }

    // The RAM the direct map covers: the memslots there were at boot.
    private readonly List<(ulong Start, ulong End)> _ram = [];

    /// <summary>
    /// Whether the guest's direct map covers <paramref name="gfn"/>: a memslot at boot, or, before
    /// the guest boots, one now. An access elsewhere through the direct map is the guest's #PF.
    /// </summary>
    public bool DirectlyMaps(ulong gfn) =>
        Booted ? _ram.Exists(r => gfn >= r.Start && gfn < r.End) : Kvm.FindSlot(gfn) is not null;

    /// <summary>The direct-map address of <paramref name="gpa"/>.</summary>
    public static ulong DirectMap(ulong gpa) => global::SpecKit.Mmu.Kvm.Kvm.DirectMapBase + gpa;

    /// <summary>The gPTE at <paramref name="level"/> on the way to <paramref name="gva"/>, as it is in guest memory now.</summary>
    public ulong Gpte(ulong gva, int level) => Tables.Memory.TryReadPte(Tables.EntryGpa(gva, level), out var gpte) ? gpte : 0;

    /// <summary>The guest stores <paramref name="value"/> into its gPTE at <paramref name="level"/> for <paramref name="gva"/>, through the direct map.</summary>
    public Kvm.GuestAccessResult WriteGpte(Kvm.KvmVcpu vcpu, ulong gva, int level, ulong value) =>
        Kvm.Run(vcpu, DirectMap(Tables.EntryGpa(gva, level)), new GuestAccess(user: false, GuestAccessKind.Write), value);

    private void EnsureNotBooted()
    {
        if (Booted || Kvm.Shadow?.ActivePages.Count > 0)
        {
            throw new InvalidOperationException("the guest runs already: it changes its tables with stores (WriteGpte), which KVM sees");
        }
    }
}
