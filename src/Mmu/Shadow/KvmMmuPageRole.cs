using System.Text;
using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Shadow;

/// <summary>
/// union kvm_mmu_page_role (mmu_internal.h; Documentation/virt/kvm/x86/mmu.rst "role"): with the
/// guest frame, the key a shadow page is found by. Two guest views of one guest table that differ
/// in any of these get two shadow pages: a table reached through a read-only PUD and through a
/// writable one (<see cref="Access"/>), or under CR0.WP=0 and CR0.WP=1 (<see cref="Cr0Wp"/>).
/// Left out: <c>smm</c> and <c>guest_mode</c> (no SMM, no nested guest in the model),
/// <c>passthrough</c>, <c>quadrant</c> and <c>has_4_byte_gpte</c> (always 0: the model shadows
/// 4- and 5-level paging only), and <c>invalid</c>, which is <see cref="ShadowPage.Invalid"/>:
/// an invalid page is out of the hash.
/// </summary>
/// <param name="Level">role.level: 1 for a table of 4K PTEs up to the root level.</param>
/// <param name="Direct">role.direct: maps a guest huge page with small pages; shadows no guest table.</param>
/// <param name="Access">role.access: the rights (ACC_* uwx) the levels above grant, which every SPTE in the page is ANDed with.</param>
/// <param name="Cr0Wp">role.cr0_wp.</param>
/// <param name="EferNx">role.efer_nx: forced to 1 for shadow paging (kvm_init_shadow_mmu).</param>
/// <param name="SmepAndNotWp">role.smep_andnot_wp: CR4.SMEP and not CR0.WP.</param>
/// <param name="SmapAndNotWp">role.smap_andnot_wp: CR4.SMAP and not CR0.WP.</param>
/// <param name="AdDisabled">role.ad_disabled: always 0 for legacy shadow paging, which has A/D bits.</param>
public readonly record struct KvmMmuPageRole(
    int Level,
    bool Direct,
    uint Access,
    bool Cr0Wp,
    bool EferNx,
    bool SmepAndNotWp,
    bool SmapAndNotWp,
    bool AdDisabled)
{
    /// <summary>
    /// The root role of a shadow MMU for <paramref name="cpu"/>: kvm_calc_cpu_role() for the bits
    /// the CPU state decides, and kvm_init_shadow_mmu(), which forces efer_nx ("KVM forces
    /// EFER.NX=1 when TDP is disabled, reflect it in the MMU role").
    /// </summary>
    public static KvmMmuPageRole ForRoot(GuestCpuState cpu) => new(
        Level: cpu.RootLevel,
        Direct: false,
        Access: (uint)Acc.ACC_ALL,
        Cr0Wp: cpu.Cr0Wp,
        EferNx: true,
        SmepAndNotWp: cpu.Cr4Smep && !cpu.Cr0Wp,
        SmapAndNotWp: cpu.Cr4Smap && !cpu.Cr0Wp,
        AdDisabled: false);

    /// <summary>
    /// kvm_mmu_child_role(): the parent's role one level down, with the access of the gPTEs
    /// above and direct for a page that maps a guest huge page.
    /// </summary>
    public KvmMmuPageRole Child(bool direct, uint access) => this with { Level = Level - 1, Direct = direct, Access = access };

    /// <summary>
    /// kvm_sync_page_check(): whether a page of this role can be synced under the vCPU's current
    /// <paramref name="rootRole"/>; level and access are ignored (they differ page to page).
    /// </summary>
    public bool SyncableUnder(KvmMmuPageRole rootRole) =>
        !Direct && this with { Level = 0, Access = 0 } == rootRole with { Level = 0, Access = 0 };

    /// <summary>ACC_* rights as "uwx" with '-' for a right not granted.</summary>
    public static string DescribeAccess(uint access) =>
        $"{((access & Acc.ACC_USER_MASK) != 0 ? 'u' : '-')}{((access & Acc.ACC_WRITE_MASK) != 0 ? 'w' : '-')}{((access & Acc.ACC_EXEC_MASK) != 0 ? 'x' : '-')}";

    /// <summary><c>level=1 access=uw- cr0_wp efer_nx</c>: the level, the access, and the flags that are set.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("level=").Append(Level).Append(Direct ? " direct" : "").Append(" access=").Append(DescribeAccess(Access));
        if (Cr0Wp) text.Append(" cr0_wp");
        if (EferNx) text.Append(" efer_nx");
        if (SmepAndNotWp) text.Append(" smep_andnot_wp");
        if (SmapAndNotWp) text.Append(" smap_andnot_wp");
        if (AdDisabled) text.Append(" ad_disabled");
        return text.ToString();
    }
}
