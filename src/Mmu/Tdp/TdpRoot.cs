using SpecKit.Mmu.Tdx;

namespace SpecKit.Mmu.Tdp;

/// <summary>
/// A TDP MMU root (a kvm_mmu_page with role.level = the root level): its table, whether it is a
/// TDX VM's mirror root (private memory, reflected into the S-EPT), whether it has been
/// invalidated (vCPUs may still use it until it is freed), and the GFN bits its walks carry
/// (kvm_gfn_root_bits(): the shared bit for a TDX VM's direct root, 0 otherwise).
/// </summary>
public sealed class TdpRoot(ulong tablePfn, bool isMirror, ulong gfnBits)
{
    public ulong TablePfn { get; } = tablePfn;

    public bool IsMirror { get; } = isMirror;

    public ulong GfnBits { get; } = gfnBits;

    public bool Invalid { get; internal set; }

    public TdpRootRole Role => new(IsMirror, Invalid);

    public override string ToString() => Role.ToString() + " root";
}
