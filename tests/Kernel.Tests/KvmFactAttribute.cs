using SpecKit.Kernel;

namespace SpecKit.Kernel.Tests;

/// <summary>A fact that needs /dev/kvm: skipped, with the reason, where it cannot be opened.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (KernelKvm.UnavailableReason is { } why)
        {
            Skip = why;
        }
    }
}

/// <summary>A theory that needs /dev/kvm.</summary>
public sealed class KvmTheoryAttribute : TheoryAttribute
{
    public KvmTheoryAttribute()
    {
        if (KernelKvm.UnavailableReason is { } why)
        {
            Skip = why;
        }
    }
}
