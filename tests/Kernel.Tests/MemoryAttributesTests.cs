namespace SpecKit.Kernel.Tests;

/// <summary>KVM_SET_MEMORY_ATTRIBUTES (kvm_vm_ioctl_set_mem_attributes()) on a default VM.</summary>
public sealed class MemoryAttributesTests : KernelTest
{
    /// <summary>KVM_MEMORY_ATTRIBUTE_PRIVATE.</summary>
    private const ulong Private = 1 << 3;

    [KvmFact]
    public void Attributes_the_VM_does_not_support_are_refused()
    {
        var supported = (ulong)Vm.CheckExtension(KvmCap.MemoryAttributes).Value;
        var result = Vm.SetMemoryAttributes(0x10_0000, 16 * Page, Private);
        if (supported == 0)
        {
            // Without CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES the ioctl falls through
            // kvm_vm_ioctl() to kvm_arch_vm_ioctl(): -ENOTTY (this PVM host); with it and no
            // private memory for the VM type, the attribute is unsupported: -EINVAL.
            Assert.Contains(result.Errno, new Errno?[] { Errno.ENOTTY, Errno.EINVAL });
        }
        else if ((supported & Private) == 0)
        {
            Assert.Equal(KvmResult.Fail(Errno.EINVAL), result);
        }
        else
        {
            Assert.Equal(KvmResult.Ok(), result);
        }
    }
}
