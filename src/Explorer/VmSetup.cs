using System.Globalization;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Explorer;

/// <summary>How the VM logs dirty pages: the bitmap (GET), manual protection (GET + CLEAR), with INITIALLY_SET, or the ring.</summary>
public enum DirtyLogMode
{
    Bitmap,
    ManualProtect,
    InitiallySet,
    Ring,
}

/// <summary>A memslot the VM starts with: any base and size, 4K or 2M host pages (THP), logging and READONLY as flags.</summary>
public sealed record SlotSetup(int Id, ulong BaseGfn, ulong Npages, int HostLevel, bool Log, bool ReadOnly);

/// <summary>A mapping the shadow-paging guest lays out before it boots: gva -> gpa with the leaf's flags.</summary>
public sealed record GuestMapping(ulong Gva, ulong Gpa, GpteFlags Flags);

/// <summary>
/// The VM an explored sequence starts from, as the Given steps of a feature make it: the kind
/// of VM, vCPUs, the dirty-log mode, the module parameters (eptad, pml, nx_huge_pages, eager page
/// splitting: the kernel picks them at load time, so they are the VM's, not operations), the
/// memslots, and under shadow paging the guest's mappings; under TDX the private ranges.
/// </summary>
public sealed record VmSetup(
    VmKind Kind,
    int Vcpus,
    DirtyLogMode Mode,
    bool EptAd,
    bool NxHugePages,
    bool EagerSplit,
    SlotSetup[] Slots,
    GuestMapping[] Mappings,
    (ulong Start, ulong End)[] PrivateRanges,
    bool Pml = false)
{
    /// <summary>Entries of the dirty ring in <see cref="DirtyLogMode.Ring"/>: small, so that a sequence reaches soft-full.</summary>
    public const int RingEntries = 256;

    /// <summary>The guest table flags above the leaf (ShadowSteps' Table: P W U A).</summary>
    public const ulong TableFlags = GuestPteNonLeaf.PresentMask | GuestPteNonLeaf.WritableMask | GuestPteNonLeaf.UserMask | GuestPteNonLeaf.AccessedMask;

    /// <summary>Makes the VM on <paramref name="m"/> as the Given steps do, and returns those steps.</summary>
    public List<string> Apply(Machine m, string model)
    {
        var kvm = m.Kvm;
        var steps = new List<string>();

        // A Lock mutant (LockMutants.WithLock) runs the named model with one operation's Lock
        // changed: the feature says so before it makes the VM, as a concurrent scenario does.
        var named = SpecModels.Named(model).Rules;
        foreach (var policy in kvm.Model.Rules.Operations.Where(p => p.Lock != named[p.Operation].Lock))
        {
            steps.Add($"the {policy.Operation} operation takes mmu_lock for {policy.Lock.ToString().ToLowerInvariant()}");
        }

        var vcpus = Vcpus == 1 ? "1 vCPU" : $"{Vcpus} vCPUs";
        if (Kind == VmKind.Tdx)
        {
            steps.Add($"a TDX VM under the {model} model with {vcpus}");
        }
        else if (Mode == DirtyLogMode.Ring)
        {
            steps.Add($"a VM under the {model} model with {vcpus} on {Kind.StepWord()} and a dirty ring of {RingEntries} entries");
            Require(kvm.EnableDirtyRing((uint)(RingEntries * KvmDirtyGfn.Size)), "KVM_CAP_DIRTY_LOG_RING");
        }
        else
        {
            steps.Add($"a VM under the {model} model with {vcpus} on {Kind.StepWord()}");
        }

        for (var i = 0; i < Vcpus; i++)
        {
            kvm.CreateVcpu();
        }

        if (Kind == VmKind.Ept && !EptAd)
        {
            steps.Add("EPT A/D bits are off");
            kvm.EptAdBits = false;
        }

        if (Pml)
        {
            steps.Add("PML is on");
            kvm.EnablePml = true;
        }

        if (NxHugePages)
        {
            steps.Add("the NX huge page mitigation is on");
            kvm.NxHugePages = true;
        }

        if (!EagerSplit)
        {
            steps.Add("eager page splitting is off");
            kvm.EagerPageSplit = false;
        }

        if (Mode is DirtyLogMode.ManualProtect or DirtyLogMode.InitiallySet)
        {
            var initiallySet = Mode == DirtyLogMode.InitiallySet;
            steps.Add(initiallySet ? "manual dirty-log protection is enabled with INITIALLY_SET" : "manual dirty-log protection is enabled");
            Require(kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable | (initiallySet ? ManualDirtyLogProtect.InitiallySet : 0)), "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
        }

        foreach (var slot in Slots)
        {
            var level = slot.HostLevel == 2 ? "2M" : "4K";
            steps.Add($"{(slot.ReadOnly ? "read-only memslot" : "memslot")} {slot.Id} maps {slot.Npages} pages at gfn {Hex(slot.BaseGfn)} with {level} host pages");
            Require(kvm.CreateMemslot(slot.Id, slot.BaseGfn, slot.Npages, slot.ReadOnly ? MemoryRegionFlags.ReadOnly : MemoryRegionFlags.None, slot.HostLevel), "KVM_SET_USER_MEMORY_REGION");
        }

        foreach (var slot in Slots.Where(s => s.Log))
        {
            steps.Add($"dirty logging is enabled on memslot {slot.Id}");
            Require(kvm.SetMemslotFlags(slot.Id, kvm.Slot(slot.Id).Flags | MemoryRegionFlags.LogDirtyPages), "KVM_SET_USER_MEMORY_REGION");
        }

        foreach (var mapping in Mappings)
        {
            steps.Add($"the guest maps gva {Hex(mapping.Gva)} to gpa {Hex(mapping.Gpa)} with PTE flags {mapping.Flags}");
            m.Guest!.MapAtBoot(mapping.Gva, mapping.Gpa, TableFlags, TableFlags, TableFlags, mapping.Flags.Mask);
        }

        foreach (var (start, end) in PrivateRanges)
        {
            steps.Add($"gfns [{Hex(start)}, {Hex(end)}) are private");
            Require(kvm.SetMemoryAttributes(start << 12, (end - start) << 12, Kvm.KvmMemoryAttributePrivate), "KVM_SET_MEMORY_ATTRIBUTES");
        }

        return steps;
    }

    /// <summary>The setup is generated to succeed; an errno here is the generator's mistake, reported as one.</summary>
    private static void Require(int result, string what)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"the explorer's VM setup failed: {what} returned {new KvmResult(result)}");
        }
    }

    internal static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    public override string ToString() =>
        $"{Kind} {Vcpus} vCPU(s) {Mode}{(EptAd ? "" : " eptad=0")}{(Pml ? " pml" : "")}{(NxHugePages ? " nx_huge_pages" : "")}{(EagerSplit ? "" : " no-eager-split")}; slots: {string.Join(", ", Slots.Select(s => s.ToString()))}"
        + (Mappings.Length > 0 ? "; mappings: " + string.Join(", ", Mappings.Select(g => $"{Hex(g.Gva)}->{Hex(g.Gpa)} {g.Flags}")) : "")
        + (PrivateRanges.Length > 0 ? "; private: " + string.Join(", ", PrivateRanges.Select(r => $"[{Hex(r.Start)}, {Hex(r.End)})")) : "");
}

/// <summary>gPTE flag bits, written as the {gpte_flags} steps take them ("P W U A D NX").</summary>
public readonly record struct GpteFlags(ulong Mask)
{
    private static readonly (ulong Mask, string Name)[] Names =
    [
        (GuestPte4K.PresentMask, "P"),
        (GuestPte4K.WritableMask, "W"),
        (GuestPte4K.UserMask, "U"),
        (GuestPte4K.AccessedMask, "A"),
        (GuestPte4K.DirtyMask, "D"),
        (GuestPte4K.NxMask, "NX"),
    ];

    public override string ToString()
    {
        var mask = Mask;
        return string.Join(" ", Names.Where(n => (mask & n.Mask) != 0).Select(n => n.Name));
    }
}
