using System.Globalization;
using System.Text;
using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;

namespace SpecKit.Behaviour.Steps;

/// <summary>Parameter types for guest paging: guest virtual and physical addresses, and an access.</summary>
public static class GuestParameterTypes
{
    /// <summary><c>{gva}</c>: a guest virtual address, hex or decimal.</summary>
    [ParameterType("gva", "0x[0-9a-fA-F_]+|[0-9]+", Integer = true, Description = "a guest virtual address")]
    public static ulong Gva(string text) => ParameterTypes.Gfn(text);

    /// <summary><c>{guest_access}</c>: "user write", "supervisor fetch", "implicit supervisor read".</summary>
    [ParameterType("guest_access", "(?:implicit )?(?:user|supervisor) (?:read|write|fetch)")]
    public static GuestAccess Access(string text) => GuestAccess.Parse(text);
}

/// <summary>
/// A guest's page tables in guest memory, its CPU paging state, and accesses walked through
/// them by GuestWalker.Walk; the permission oracle's table over combinations of bits.
/// </summary>
[Binding]
public sealed class GuestPagingSteps(ScenarioContext context)
{
    private static readonly string[] EntryFlags = ["P", "W", "U", "A", "D", "NX", "PS", "PK=<key>", "bit<n>"];

    private SparseGuestMemory _memory = new();
    private readonly Dictionary<int, ulong> _before = [];
    private GuestPageTables? _tables;
    private GuestCpuState _cpu = new();
    private ulong[] _lastEntries = [];
    private ulong _lastGva;
    private GuestWalk? _walk;
    private bool _walked;
    private string? _table;

    private GuestPageTables Tables => _tables ?? throw new InvalidOperationException("no guest yet: start with 'Given a guest with 4-level paging'");

    private GuestWalk Walk => _walk ?? throw new InvalidOperationException("no access yet: 'When the guest makes a user read to gva ...'");

    [Given("a guest with {int}-level paging")]
    public void AGuest(int levels)
    {
        _memory = new SparseGuestMemory();
        _tables = new GuestPageTables(_memory, levels);
        _cpu = _cpu with { Cr4La57 = levels == GuestWalker.Pml5eLevel };
    }

    [Given("the guest CPU has {}")]
    public void TheCpuHas(string assignments)
    {
        foreach (var assignment in assignments.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = assignment.Split('=', 2);
            var value = parts.Length == 2 ? ParameterTypes.Gfn(parts[1]) : throw new FormatException($"'{assignment}' is not NAME=value");
            _cpu = WithCpuBit(_cpu, parts[0], value);
        }
    }

    [Given("gva {gva} maps to gpa {gpa} through:")]
    public void Maps(ulong gva, ulong gpa, DataTable table)
    {
        var entries = new List<ulong>();
        foreach (var row in table.AsDictionaries())
        {
            var level = Tables.RootLevel - entries.Count;
            Assert.True(
                row["level"] == GuestWalker.LevelName(level),
                $"row {entries.Count + 1} of the mapping is the {row["level"]}, but under a {Tables.RootLevel}-level root it is the {GuestWalker.LevelName(level)}: list the entries root first");
            entries.Add(ParseEntry(row["flags"]));
        }

        Tables.Map(gva, gpa, entries.ToArray());
        _lastEntries = [.. entries];
        _lastGva = gva;
    }

    [Given("the guest has made a(n) {guest_access} to gva {gva}")]
    [When("the guest makes a(n) {guest_access} to gva {gva}")]
    public void MakesAccess(GuestAccess access, ulong gva)
    {
        var cpu = _cpu with { Cr3 = Tables.RootGpa };
        _before.Clear();
        for (var level = Tables.RootLevel; level >= 1; level--)
        {
            if (TryEntryGpa(gva, level) is { } gpa)
            {
                _before[level] = _memory.ReadPte(gpa);
            }
        }

        _walked = GuestWalker.Walk(_memory, new GuestMmu(cpu), gva, access, out var walk);
        _walk = walk;
    }

    [When("the permission oracle checks every access for every combination of:")]
    public void OracleTable(DataTable bits)
    {
        var axes = bits.Rows.Select(r => r[0]).ToList();
        Assert.True(axes.Count is > 0 and <= 10, $"{axes.Count} bits make 2^{axes.Count} rows: give 1 to 10");
        Assert.True(_lastEntries.Length > 0, "the oracle varies the bits of the last mapping: map an address first");
        var oracle = new PermissionOracle();
        var header = axes.Concat(GuestAccess.All.Select(a => a.ToString())).ToList();
        var rows = new List<List<string>>();
        for (var combination = 0; combination < 1 << axes.Count; combination++)
        {
            var entries = (ulong[])_lastEntries.Clone();
            var cpu = _cpu;
            var row = new List<string>();
            for (var i = 0; i < axes.Count; i++)
            {
                var set = (combination & (1 << (axes.Count - 1 - i))) != 0;
                row.Add(set ? "1" : "0");
                (entries, cpu) = WithBit(entries, cpu, axes[i], set);
            }

            foreach (var access in GuestAccess.All)
            {
                var verdict = oracle.Check(cpu, access, entries);
                row.Add(verdict.Fault ? "#PF " + PfErrorCode.Describe(verdict.ErrorCode) : "ok " + verdict.DescribeAccessedDirty());
            }

            rows.Add(row);
        }

        _table = Render(header, rows);
    }

    [Then("the access succeeds at gpa {gpa}")]
    public void Succeeds(ulong gpa)
    {
        Assert.True(_walked, $"expected the access to succeed, but it faulted:\n{Walk.Describe()}");
        Assert.True(Walk.Gpa == gpa, $"expected gpa 0x{gpa:x}, the walk gave 0x{Walk.Gpa:x}:\n{Walk.Describe()}");
    }

    [Then("the access faults with error code {}")]
    public void Faults(string errorCode)
    {
        Assert.False(_walked, $"expected a #PF {errorCode}, but the access succeeded:\n{Walk.Describe()}");
        Assert.Equal(errorCode, PfErrorCode.Describe(Walk.ErrorCode));
    }

    [Then("the walk sets A on {}")]
    public void SetsAccessed(string levels)
    {
        var walked = Enumerable.Range(Walk.Level, Walk.MaxLevel - Walk.Level + 1).Reverse().ToList();
        var expected = levels switch
        {
            "every level" => walked,
            "no level" => [],
            _ => levels.Split([",", " and "], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(LevelNumber).ToList(),
        };
        var actual = walked.Where(l => (Changed(l) & GuestPteNonLeaf.AccessedMask) != 0).ToList();
        Assert.True(expected.SequenceEqual(actual), $"expected A set on {Names(expected)}, the walk set it on {Names(actual)}:\n{Walk.Describe()}");
    }

    [Then("the walk sets D on the leaf")]
    public void SetsDirty() => Assert.True((Changed(Walk.Level) & GuestPte4K.DirtyMask) != 0, $"the walk did not set D in the leaf:\n{Walk.Describe()}");

    [Then("the walk sets no D")]
    public void SetsNoDirty() =>
        Assert.True(_before.Keys.All(l => (Changed(l) & GuestPte4K.DirtyMask) == 0), $"the walk set a D bit:\n{Walk.Describe()}");

    [Then("the guest walk matches the snapshot")]
    public void WalkSnapshot() => context.Verify($"CPU: {_cpu}\n{Walk.Describe()}");

    [Then("the permission table matches the snapshot")]
    public void TableSnapshot() => context.Verify(_table ?? throw new InvalidOperationException("no permission table yet"));

    private ulong Changed(int level) =>
        _before.TryGetValue(level, out var before) && TryEntryGpa(Walk.Addr, level) is { } gpa ? _memory.ReadPte(gpa) & ~before : 0;

    private ulong? TryEntryGpa(ulong gva, int level)
    {
        try
        {
            return Tables.EntryGpa(gva, level);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>"P W U A D NX PS PK=1 bit51": an entry's flags; the address and a leaf's PS are added by the mapping.</summary>
    private static ulong ParseEntry(string flags)
    {
        var entry = 0UL;
        foreach (var flag in flags.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            entry |= flag switch
            {
                "P" => GuestPteNonLeaf.PresentMask,
                "W" => GuestPteNonLeaf.WritableMask,
                "U" => GuestPteNonLeaf.UserMask,
                "A" => GuestPteNonLeaf.AccessedMask,
                "D" => GuestPte4K.DirtyMask,
                "NX" => GuestPteNonLeaf.NxMask,
                "PS" => GuestPteNonLeaf.PageSizeMask,
                _ when flag.StartsWith("PK=", StringComparison.Ordinal) => new GuestPte4K(0).WithProtKey(ParameterTypes.Gfn(flag[3..])).Raw,
                _ when flag.StartsWith("bit", StringComparison.Ordinal) && int.TryParse(flag[3..], CultureInfo.InvariantCulture, out var bit) && bit is >= 0 and < 64 => 1UL << bit,
                _ => throw new FormatException($"'{flag}' is not an entry flag; write {string.Join(", ", EntryFlags)}"),
            };
        }

        return entry;
    }

    private static GuestCpuState WithCpuBit(GuestCpuState cpu, string name, ulong value)
    {
        var on = value != 0;
        return name switch
        {
            "CR0.WP" => cpu with { Cr0Wp = on },
            "CR4.SMEP" => cpu with { Cr4Smep = on },
            "CR4.SMAP" => cpu with { Cr4Smap = on },
            "CR4.PKE" => cpu with { Cr4Pke = on },
            "EFER.NX" => cpu with { EferNx = on },
            "EFLAGS.AC" => cpu with { EflagsAc = on },
            "PKRU" => cpu with { Pkru = checked((uint)value) },
            "MAXPHYADDR" => cpu with { MaxPhyAddr = checked((int)value) },
            _ => throw new FormatException($"'{name}' is not a CPU bit; write CR0.WP, CR4.SMEP, CR4.SMAP, CR4.PKE, EFER.NX, EFLAGS.AC, PKRU or MAXPHYADDR"),
        };
    }

    /// <summary>An oracle axis: a CPU bit (CR0.WP) or an entry's flag (Pte.W), set or cleared.</summary>
    private (ulong[] Entries, GuestCpuState Cpu) WithBit(ulong[] entries, GuestCpuState cpu, string axis, bool set)
    {
        var dot = axis.IndexOf('.', StringComparison.Ordinal);
        var level = dot > 0 ? Enumerable.Range(1, Tables.RootLevel).FirstOrDefault(l => GuestWalker.LevelName(l) == axis[..dot]) : 0;
        if (level == 0)
        {
            return (entries, WithCpuBit(cpu, axis, set ? 1UL : 0));
        }

        var index = Tables.RootLevel - level;
        Assert.True(index < entries.Length, $"{axis}: the mapping has no {GuestWalker.LevelName(level)}");
        var mask = ParseEntry(axis[(dot + 1)..]);
        entries[index] = set ? entries[index] | mask : entries[index] & ~mask;
        return (entries, cpu);
    }

    private int LevelNumber(string name) =>
        Enumerable.Range(1, Tables.RootLevel).FirstOrDefault(l => GuestWalker.LevelName(l) == name) is var level and > 0
            ? level
            : throw new FormatException($"'{name}' is not a level; write {string.Join(", ", Enumerable.Range(1, Tables.RootLevel).Reverse().Select(GuestWalker.LevelName))}");

    private static string Names(IEnumerable<int> levels) =>
        levels.Any() ? string.Join(", ", levels.Select(GuestWalker.LevelName)) : "no level";

    /// <summary>A text table with aligned columns: the bits, then one column per access.</summary>
    private static string Render(List<string> header, List<List<string>> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToList();
        var text = new StringBuilder();
        void Line(IReadOnlyList<string> cells) =>
            text.Append("| ").Append(string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i])))).Append(" |\n");
        Line(header);
        Line(widths.Select(w => new string('-', w)).ToList());
        rows.ForEach(Line);
        return text.ToString();
    }
}
