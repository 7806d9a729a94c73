namespace SpecKit.Mmu;

/// <summary>
/// The model's WARN_ON / KVM_BUG_ON. Where the kernel would warn and limp on, the model
/// stops the scenario: a warning in a model run means the scenario found a kernel rule
/// broken (or the model has a bug), and either way nobody should read further results.
/// </summary>
public static class KvmWarn
{
    public static void On(bool condition, string what)
    {
        if (condition)
        {
            throw new KvmWarnException(what);
        }
    }
}

public sealed class KvmWarnException(string what) : Exception("WARN: " + what);
