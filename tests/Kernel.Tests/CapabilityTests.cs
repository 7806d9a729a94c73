namespace SpecKit.Kernel.Tests;

/// <summary>KVM_CHECK_EXTENSION and KVM_ENABLE_CAP (kvm_vm_ioctl_check_extension_generic(), kvm_vm_ioctl_enable_cap_generic()).</summary>
public sealed class CapabilityTests : KernelTest
{
    /// <summary>KVM_DIRTY_RING_MAX_ENTRIES (65536) struct kvm_dirty_gfn entries of 16 bytes.</summary>
    private const long DirtyRingMaxBytes = 65536 * 16;

    [KvmFact]
    public void Manual_protect_answers_its_flag_bits()
    {
        // KVM_DIRTY_LOG_MANUAL_CAPS: KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET.
        Assert.Equal(KvmResult.Ok((long)(ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet)), Vm.CheckExtension(KvmCap.ManualDirtyLogProtect2));
    }

    [KvmFact]
    public void The_dirty_ring_answers_its_largest_size_in_bytes()
    {
        Assert.Equal(KvmResult.Ok(DirtyRingMaxBytes), Vm.CheckExtension(KvmCap.DirtyLogRing));
        Assert.Equal(KvmResult.Ok(DirtyRingMaxBytes), Vm.CheckExtension(KvmCap.DirtyLogRingAcqRel));
    }

    [KvmFact]
    public void Memslot_capabilities_are_present()
    {
        Assert.Equal(KvmResult.Ok(1), Vm.CheckExtension(KvmCap.ReadonlyMem));
        Assert.Equal(KvmResult.Ok(1), Vm.CheckExtension(KvmCap.UserMemory));
        Assert.Equal(KvmResult.Ok(1), Vm.CheckExtension(KvmCap.UserMemory2));
        Assert.Equal(KvmResult.Ok(1), Vm.CheckExtension(KvmCap.BinaryStatsFd));

        // KVM_USER_MEM_SLOTS on x86: KVM_MEM_SLOTS_NUM (SHRT_MAX) less KVM_INTERNAL_MEM_SLOTS (3).
        Assert.Equal(KvmResult.Ok(32764), Vm.CheckExtension(KvmCap.NrMemslots));
    }

    [KvmFact]
    public void An_unknown_capability_is_absent_not_an_error()
    {
        Assert.Equal(KvmResult.Ok(0), Vm.CheckExtension((KvmCap)0xFFFF));
        Assert.Equal(KvmResult.Ok(0), Kvm.CheckExtension((KvmCap)0xFFFF));
    }

    [KvmFact]
    public void The_system_fd_answers_as_the_VM_fd()
    {
        Assert.Equal(Vm.CheckExtension(KvmCap.ManualDirtyLogProtect2), Kvm.CheckExtension(KvmCap.ManualDirtyLogProtect2));
        Assert.Equal(Vm.CheckExtension(KvmCap.DirtyLogRing), Kvm.CheckExtension(KvmCap.DirtyLogRing));
    }

    [KvmFact]
    public void Manual_protect_takes_its_flags_and_refuses_others()
    {
        Assert.Equal(KvmResult.Ok(), Vm.EnableCap(KvmCap.ManualDirtyLogProtect2, (ulong)(ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet)));
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.EnableCap(KvmCap.ManualDirtyLogProtect2, 1 << 2));
    }

    [KvmFact]
    public void A_capability_KVM_cannot_enable_is_EINVAL() =>
        Assert.Equal(KvmResult.Fail(Errno.EINVAL), Vm.EnableCap(KvmCap.NrMemslots, 1));

    [KvmFact]
    public void The_slot_zap_all_quirk_can_be_disabled_where_the_host_lists_it()
    {
        var quirks = (KvmX86Quirks)Vm.CheckExtension(KvmCap.DisableQuirks2).Value;
        var result = Vm.EnableCap(KvmCap.DisableQuirks2, (ulong)KvmX86Quirks.SlotZapAll);

        // kvm_vm_ioctl_enable_cap(): a quirk outside kvm_caps.supported_quirks is -EINVAL.
        Assert.Equal(quirks.HasFlag(KvmX86Quirks.SlotZapAll) ? KvmResult.Ok() : KvmResult.Fail(Errno.EINVAL), result);
    }
}
