namespace SpecKit.Mmu.Kvm;

/// <summary>GFNs as the log and the steps write them: ascending runs, "0x10-0x11, 0x200", or "none".</summary>
public static class GfnList
{
    public static string Describe(IEnumerable<ulong> gfns)
    {
        var sorted = gfns.Distinct().Order().ToList();
        if (sorted.Count == 0)
        {
            return "none";
        }

        var runs = new List<string>();
        var first = sorted[0];
        var last = first;
        foreach (var gfn in sorted.Skip(1))
        {
            if (gfn == last + 1)
            {
                last = gfn;
                continue;
            }

            runs.Add(Run(first, last));
            first = last = gfn;
        }

        runs.Add(Run(first, last));
        return string.Join(", ", runs);
    }

    private static string Run(ulong first, ulong last) => first == last ? $"0x{first:x}" : $"0x{first:x}-0x{last:x}";
}
