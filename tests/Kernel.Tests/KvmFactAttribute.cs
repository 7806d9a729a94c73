using SpecKit.Kernel;

namespace SpecKit.Kernel.Tests;

/// <summary>
/// A fact that needs /dev/kvm, and the guest CPUID features in <see cref="Needs"/>: skipped, with
/// the reason, where it cannot be opened or KVM cannot give a guest those features.
/// </summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public GuestCpuFeature[] Needs { get; set; } = [];

    public override string? Skip
    {
        get => base.Skip ?? KvmSkip.Why(Needs);
        set => base.Skip = value;
    }
}

/// <summary>A theory that needs /dev/kvm and the guest CPUID features in <see cref="Needs"/>.</summary>
public sealed class KvmTheoryAttribute : TheoryAttribute
{
    public GuestCpuFeature[] Needs { get; set; } = [];

    public override string? Skip
    {
        get => base.Skip ?? KvmSkip.Why(Needs);
        set => base.Skip = value;
    }
}

internal static class KvmSkip
{
    public static string? Why(GuestCpuFeature[] needs)
    {
        if (KernelKvm.UnavailableReason is { } why)
        {
            return why;
        }

        var missing = needs.Where(f => !GuestCpuid.Has(f)).ToList();
        return missing.Count == 0 ? null : $"KVM_GET_SUPPORTED_CPUID lacks {string.Join(", ", missing)} for the guest";
    }
}

/// <summary>A theory's row that needs the guest CPUID features in <see cref="Needs"/>: skipped, with the reason, where KVM lacks them.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class KvmInlineDataAttribute(params object[] data) : Xunit.Sdk.DataAttribute
{
    public GuestCpuFeature[] Needs { get; set; } = [];

    public override string? Skip
    {
        get => base.Skip ?? KvmSkip.Why(Needs);
        set => base.Skip = value;
    }

    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => [data];
}
