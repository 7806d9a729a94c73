// The closed sets of spec/layouts/spte-masks.layout: the SPTE formats and the masks each gives.
// Compiled into the runtime and into the spec generator (generators/Spec links it), so a Format
// block is checked against the runtime's names: an unknown one is SPEC042, a missing one SPEC043.
#if SPECKIT_SPEC_GENERATOR
namespace SpecKit.Generators.Spec.RuntimeValues
#else
namespace SpecKit.Mmu.X86
#endif
{
    /// <summary>The SPTE formats KVM builds: EPT on Intel with EPT; the x86-64 PTE format for shadow paging and AMD NPT.</summary>
    public enum SpteFormat
    {
        Ept,
        Legacy,
    }

    /// <summary>The masks of a format, named as spte.c names the globals that hold them.</summary>
    public enum SpteMask
    {
        shadow_present_mask,
        shadow_user_mask,
        shadow_accessed_mask,
        shadow_dirty_mask,
        shadow_nx_mask,
        shadow_x_mask,
        shadow_acc_track_mask,
        shadow_host_writable_mask,
        shadow_mmu_writable_mask,
        shadow_mmio_value,
        shadow_mmio_mask,
        shadow_mmio_access_mask,
        shadow_nonpresent_or_rsvd_lower_gfn_mask,

        /// <summary>What kvm_x86_ops.get_mt_mask() puts in a leaf for RAM (0 where there is no such op).</summary>
        mt_mask,

        /// <summary>spte.h SHADOW_NONPRESENT_VALUE: what a zapped or never-used SPTE holds.</summary>
        shadow_nonpresent_value,

        /// <summary>spte.h FROZEN_SPTE: what an SPTE holds while a walker owns it (tdp_mmu_zap_spte_atomic, handle_removed_pt).</summary>
        frozen_spte,
    }
}
