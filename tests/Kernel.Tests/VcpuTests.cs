namespace SpecKit.Kernel.Tests;

/// <summary>KVM_CREATE_VCPU's errors, the batch guest on several vCPUs, and the KVM_RUN watchdog.</summary>
public sealed class VcpuTests : KernelTest
{
    private const ulong Gpa = 0x10_0000;

    [KvmFact]
    public void A_vCPU_id_twice_is_EEXIST_and_one_past_KVM_MAX_VCPU_IDS_is_EINVAL()
    {
        Vcpu(0);
        Assert.Equal(Errno.EEXIST, Vm.CreateVcpu(0).Errno);
        var maxId = (uint)Vm.CheckExtension(KvmCap.MaxVcpuId).Value;
        Assert.Equal(Errno.EINVAL, Vm.CreateVcpu(maxId).Errno);
    }

    [KvmFact]
    public void Each_vCPU_keeps_its_own_batch_while_another_runs()
    {
        Memslot(1, Gpa, 16);
        var vcpu0 = Vcpu(0);
        var vcpu1 = Vcpu(1);
        Assert.IsType<VcpuExit.Mmio>(vcpu0.Run([GuestAccess.Write(Gpa, 10), GuestAccess.Read(0x5000_0000), GuestAccess.Read(Gpa + 4)]));
        Assert.Equal([20UL, 20], Done(vcpu1.Run([GuestAccess.Write(Gpa + 4, 20), GuestAccess.Read(Gpa + 4)])).Values);
        Assert.Equal([10UL, 5, 20], Done(vcpu0.Resume(5)).Values);
    }

    [KvmFact]
    public void Accesses_the_32_bit_guest_cannot_make_are_refused()
    {
        var vcpu = Vcpu();
        Assert.IsType<VcpuExit.Refused>(vcpu.Run([GuestAccess.Write(Gpa, 1, width: 8)]));
        Assert.IsType<VcpuExit.Refused>(vcpu.Run([GuestAccess.Read(1UL << 32)]));
        Assert.IsType<VcpuExit.Refused>(vcpu.Run(Enumerable.Repeat(GuestAccess.Read(Gpa), 5000).ToList()));
    }

    [KvmFact]
    public void A_KVM_RUN_that_does_not_return_in_time_is_kicked_out_and_the_vCPU_runs_again()
    {
        Memslot(1, Gpa, 16);
        var vcpu = (KernelVcpu)Vcpu();
        Vm.RunTimeout = TimeSpan.FromMilliseconds(200);
        var timedOut = Assert.IsType<VcpuExit.TimedOut>(vcpu.RunSpinning([GuestAccess.Write(Gpa, 9)]));
        Assert.False(timedOut.Wedged);
        Assert.InRange(timedOut.After, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(3));
        Assert.Equal([9UL], Done(vcpu.Run([GuestAccess.Read(Gpa)])).Values);
    }
}
