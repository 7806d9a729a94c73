using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Shadow;
using SpecKit.Mmu.X86;
using MemoryRegionFlags = SpecKit.Uapi.MemoryRegionFlags;

namespace SpecKit.Mmu.Tests.Shadow;

/// <summary>
/// A shadow-paging VM for the tests: one memslot of RAM, user pages at <see cref="Gva"/> (gfn
/// <see cref="Gfn"/> and up), the guest kernel's direct map, and vCPUs booted with CR0.WP and
/// EFER.NX set.
/// </summary>
internal sealed class ShadowGuest
{
    // gPTE bits, typed from the SDM.
    public const ulong P = 1, W = 2, U = 4, A = 0x20, D = 0x40;
    public const ulong Table = P | W | U | A;
    public const ulong Gva = 0x40_0000;
    public const ulong Gfn = 0x1000;
    public const ulong RamPages = 0x2000;

    public static readonly GuestAccess UserRead = new(user: true, GuestAccessKind.Read);
    public static readonly GuestAccess UserWrite = new(user: true, GuestAccessKind.Write);
    public static readonly GuestAccess SupervisorRead = new(user: false, GuestAccessKind.Read);
    public static readonly GuestAccess SupervisorWrite = new(user: false, GuestAccessKind.Write);

    public ShadowGuest(string model = "base", int vcpus = 1, GuestCpuState? cpu = null, params ulong[] leaves)
        : this(SpecModels.Named(model), vcpus, cpu, leaves)
    {
    }

    public ShadowGuest(SpecModelInfo model, int vcpus = 1, GuestCpuState? cpu = null, params ulong[] leaves)
    {
        Vm = new Kvm.Kvm(model, MmuKind.Shadow);
        Assert.Equal(0, Vm.CreateMemslot(0, 0, RamPages, MemoryRegionFlags.None, hostLevel: 1));
        for (var i = 0; i < vcpus; i++)
        {
            Vm.CreateVcpu();
        }

        Guest = new GuestKernel(Vm);
        leaves = leaves.Length == 0 ? [P | U | A] : leaves;
        for (var i = 0; i < leaves.Length; i++)
        {
            Guest.MapAtBoot(Gva + ((ulong)i << 12), (Gfn + (ulong)i) << 12, Table, Table, Table, leaves[i]);
        }

        Guest.Boot(cpu ?? new GuestCpuState { Cr0Wp = true, EferNx = true });
    }

    public Kvm.Kvm Vm { get; }

    public GuestKernel Guest { get; }

    public ShadowMmu Mmu => Vm.Shadow!;

    public KvmVcpu Vcpu(int id = 0) => Vm.Vcpus[id];

    /// <summary>The gfn of the guest's 4K table that maps <see cref="Gva"/>.</summary>
    public ulong LeafTableGfn => Guest.Tables.EntryGpa(Gva, 1) >> 12;

    /// <summary>The shadow page of <paramref name="gfn"/> at <paramref name="level"/> (the only one).</summary>
    public ShadowPage Page(ulong gfn, int level = 1) => Assert.Single(Mmu.PagesWithGptes(gfn), sp => sp.Role.Level == level);

    /// <summary>The leaf SPTE that maps <see cref="Gva"/> + <paramref name="page"/> pages.</summary>
    public ulong LeafSpte(int page = 0) => Page(LeafTableGfn).Spt[page];

    /// <summary>A guest access by virtual address on vCPU <paramref name="vcpu"/>.</summary>
    public GuestAccessResult Access(ulong gva, GuestAccess access, int vcpu = 0, ulong value = 0) => Vm.Run(Vcpu(vcpu), gva, access, value);

    /// <summary>The guest stores <paramref name="value"/> into the PTE for <see cref="Gva"/> + <paramref name="page"/> pages.</summary>
    public GuestAccessResult StoreGpte(int page, ulong value, int vcpu = 0) =>
        Guest.WriteGpte(Vcpu(vcpu), Gva + ((ulong)page << 12), 1, value);

    /// <summary>The leaf gPTE for <see cref="Gva"/> + <paramref name="page"/> pages, with its frame.</summary>
    public static ulong Leaf(ulong bits, int page = 0) => bits | ((Gfn + (ulong)page) << 12);
}
