namespace SpecKit.Kernel.Tests;

public sealed class SmokeTests : KernelTest
{
    [KvmFact]
    public void A_store_then_a_load_in_one_batch_read_back_the_value()
    {
        Memslot(1, 0x10_0000, 16);
        var vcpu = Vcpu();
        var done = Done(vcpu.Run([GuestAccess.Write(0x10_0010, 0xdeadbeef), GuestAccess.Read(0x10_0010), GuestAccess.Read(0x10_0010, 1), GuestAccess.Read(0x10_0012, 2)]));
        Assert.Equal([0xdeadbeefUL, 0xdeadbeef, 0xef, 0xdead], done.Values);
    }
}
