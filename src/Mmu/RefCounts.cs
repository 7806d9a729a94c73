namespace SpecKit.Mmu;

/// <summary>
/// Sparse reference counts (gfn_write_track, lpage_info's disallow_lpage): only counts above
/// zero are kept, and a count going negative is a KVM bug.
/// </summary>
internal static class RefCounts
{
    public static void Add<TKey>(Dictionary<TKey, int> counts, TKey key, int delta, string what)
        where TKey : notnull
    {
        var count = counts.GetValueOrDefault(key) + delta;
        KvmWarn.On(count < 0, $"{what} count for {key} went negative");
        if (count > 0)
        {
            counts[key] = count;
        }
        else
        {
            counts.Remove(key);
        }
    }
}
