namespace SpecKit.Uapi;

/// <summary>KVM_STATS_TYPE_* (bits 0-3 of kvm_stats_desc.flags).</summary>
public enum KvmStatType
{
    Cumulative = 0,
    Instant = 1,
    Peak = 2,
    LinearHist = 3,
    LogHist = 4,
}

/// <summary>KVM_STATS_UNIT_* (bits 4-7 of kvm_stats_desc.flags).</summary>
public enum KvmStatUnit
{
    None = 0,
    Bytes = 1,
    Seconds = 2,
    Cycles = 3,
    Boolean = 4,
}

/// <summary>One statistic of the binary stats file (struct kvm_stats_desc and its data).</summary>
public sealed record KvmStat(string Name, KvmStatType Type, KvmStatUnit Unit, int Exponent, IReadOnlyList<ulong> Values)
{
    public ulong Value => Values[0];
}

/// <summary>
/// What KVM_GET_STATS_FD's file holds for a VM (Documentation/virt/kvm/api.rst, "The binary
/// statistics"): an id string and named statistics, e.g. x86's pages_4k, pages_2m and pages_1g
/// (the number of leaf SPTEs of each size the MMU has mapped).
/// </summary>
public sealed class KvmStats(string id, IReadOnlyList<KvmStat> stats)
{
    public string Id { get; } = id;

    public IReadOnlyList<KvmStat> All { get; } = stats;

    public KvmStat? Find(string name) => All.FirstOrDefault(s => s.Name == name);

    /// <summary>The first value of a statistic; a missing one is a bug in the caller (the host does not report it).</summary>
    public ulong this[string name] => (Find(name) ?? throw new KeyNotFoundException($"the host reports no statistic {name} (it has {string.Join(", ", All.Select(s => s.Name))})")).Value;
}
