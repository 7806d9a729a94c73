using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;

namespace SpecKit.Explorer;

/// <summary>
/// One VM an explored sequence runs, and what userspace keeps beside it: the same state the
/// behaviour suite's VmWorld keeps for a scenario (the guest kernel under shadow paging, which
/// boots before a vCPU first runs; the value the next guest store writes), so that an operation
/// here and the step it prints do the same calls on the model in the same order. That is what
/// makes a printed counterexample fail the same way when it runs as a feature.
/// </summary>
public sealed class Machine
{
    /// <summary>The first value a guest store by virtual address writes (ShadowSteps' counter).</summary>
    public const ulong FirstGuestValue = 0x1000;

    public Machine(VmSetup setup, SpecModelInfo model)
    {
        Setup = setup;
        Kvm = new Kvm(model, setup.Kind.Mmu(), setup.Kind == VmKind.Tdx ? KvmVmType.Tdx : KvmVmType.Default);
        Kvm.Log.Enabled = false;
        Guest = setup.Kind == VmKind.Shadow ? new GuestKernel(Kvm) : null;
    }

    public VmSetup Setup { get; }

    public Kvm Kvm { get; }

    /// <summary>The guest kernel of a shadow-paging VM (its page tables and direct map); null under TDP.</summary>
    public GuestKernel? Guest { get; }

    /// <summary>The CPU state the vCPUs boot with under shadow paging (VmWorld's default: CR0.WP and EFER.NX).</summary>
    public GuestCpuState BootCpu { get; set; } = new() { Cr0Wp = true, EferNx = true };

    /// <summary>The value the next guest store by virtual address writes.</summary>
    public ulong NextGuestValue { get; set; } = FirstGuestValue;

    /// <summary>The write tracking the explorer added through kvm_write_track_add_gfn, by gfn: what it may remove.</summary>
    public Dictionary<ulong, int> ExternalWriteTracks { get; } = [];

    /// <summary>Whether the guest runs (always under TDP).</summary>
    public bool Booted => Guest is not { Booted: false };

    /// <summary>vCPU <paramref name="id"/>, ready to run: under shadow paging the guest boots before its first vCPU runs.</summary>
    public KvmVcpu Vcpu(int id)
    {
        if (Guest is { Booted: false } guest)
        {
            guest.Boot(BootCpu);
        }

        return Kvm.Vcpus[id];
    }

    /// <summary>The step the running operation is (for the report when the model throws inside it).</summary>
    public Step? Pending { get; private set; }

    internal Step Begin(Step step)
    {
        Pending = step;
        return step;
    }

    /// <summary>The user page behind <paramref name="gfn"/>, or null where no memslot holds it.</summary>
    public ulong? UserPage(ulong gfn) => Kvm.FindSlot(gfn) is { } slot ? slot.GfnToHvpn(gfn) : null;

    /// <summary>The user pages behind [<paramref name="start"/>, <paramref name="end"/>) when one memslot holds them all.</summary>
    public (ulong Start, ulong End)? UserPages(ulong start, ulong end) =>
        end > start && Kvm.FindSlot(start) is { } slot && end <= slot.EndGfn ? (slot.GfnToHvpn(start), slot.GfnToHvpn(start) + (end - start)) : null;
}

/// <summary>The kinds of VM the explorer makes: the TDP MMU on EPT or NPT, the shadow MMU, a TDX VM.</summary>
public enum VmKind
{
    Ept,
    Npt,
    Shadow,
    Tdx,
}

public static class VmKinds
{
    public static MmuKind Mmu(this VmKind kind) => kind switch
    {
        VmKind.Npt => MmuKind.TdpNpt,
        VmKind.Shadow => MmuKind.Shadow,
        _ => MmuKind.TdpEpt,
    };

    /// <summary>The {mmu} word of the feature steps.</summary>
    public static string StepWord(this VmKind kind) => kind switch
    {
        VmKind.Npt => "NPT",
        VmKind.Shadow => "shadow paging",
        _ => "EPT",
    };

    public static VmKind Parse(string text) => text.ToLowerInvariant() switch
    {
        "ept" => VmKind.Ept,
        "npt" => VmKind.Npt,
        "shadow" => VmKind.Shadow,
        "tdx" => VmKind.Tdx,
        _ => throw new ArgumentException($"unknown VM kind '{text}': ept, npt, shadow or tdx", nameof(text)),
    };
}
