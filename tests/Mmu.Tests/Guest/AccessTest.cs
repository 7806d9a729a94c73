using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Tests.Guest;

/// <summary>
/// The harness of kvm-unit-tests x86/access.c: a set of named flags (entry bits, access, CPU
/// bits), every legal combination of them bumped through in turn, and for each one the
/// permission oracle (the real walker over real tables) checked against
/// <see cref="AccessReference"/> the way ac_test_check does: fault, error code, and every
/// entry's A/D bits. Failures are reported one line each, with a per-flag histogram.
/// </summary>
internal sealed class AccessTest
{
    private readonly string[] _names;
    private readonly PermissionOracle _oracle = new();
    private readonly List<string> _failures = [];
    private readonly int[] _failWith;

    public AccessTest(params string[] names)
    {
        _names = names;
        _failWith = new int[names.Length];
    }

    public int Tests { get; private set; }

    public int Failures { get; private set; }

    /// <summary>Cases the reference expects to fault with RSVD, and to succeed: an enumeration that never reaches one side tests nothing there.</summary>
    public int ExpectedRsvd { get; private set; }

    public int ExpectedSuccesses { get; private set; }

    public bool F(uint flags, string name)
    {
        var bit = Array.IndexOf(_names, name);
        if (bit < 0)
        {
            throw new ArgumentException($"no flag {name}", nameof(name));
        }

        return (flags & (1u << bit)) != 0;
    }

    /// <summary>ac_test_bump over every combination that <paramref name="legal"/> accepts.</summary>
    public IEnumerable<uint> Combinations(Func<uint, bool> legal)
    {
        for (var flags = 0u; flags < 1u << _names.Length; flags++)
        {
            if (legal(flags))
            {
                yield return flags;
            }
        }
    }

    /// <summary>One case named by its flags: the oracle against the reference.</summary>
    public void Run(uint flags, AccessReference.Cpu cpu, AccessReference.Access access, ulong[] entries) =>
        Run(() => string.Join(' ', Enumerable.Range(0, _names.Length).Where(i => (flags & (1u << i)) != 0).Select(i => _names[i])), flags, cpu, access, entries);

    /// <summary>One case named by <paramref name="label"/>: the oracle against the reference.</summary>
    public void Run(Func<string> label, uint flags, AccessReference.Cpu cpu, AccessReference.Access access, ulong[] entries)
    {
        Tests++;
        var expected = AccessReference.Expect(cpu, entries, access);
        ExpectedRsvd += (expected.Error & AccessReference.PfRsvd) != 0 ? 1 : 0;
        ExpectedSuccesses += expected.Fault ? 0 : 1;
        var state = new GuestCpuState
        {
            Cr0Wp = cpu.Wp,
            Cr4Smep = cpu.Smep,
            Cr4Smap = cpu.Smap,
            EflagsAc = cpu.Ac,
            EferNx = cpu.Nx,
            Cr4Pke = cpu.Pke,
            Pkru = cpu.Pkru,
            Cr4La57 = cpu.La57,
            MaxPhyAddr = cpu.MaxPhyAddr,
            Gbpages = cpu.Gbpages,
        };
        var kind = access.Write ? GuestAccessKind.Write : access.Fetch ? GuestAccessKind.Fetch : GuestAccessKind.Read;
        var verdict = _oracle.Check(state, new GuestAccess(access.User, kind, access.Implicit), entries);

        var problems = new List<string>();
        if (verdict.Fault && !expected.Fault) problems.Add("unexpected fault");
        if (!verdict.Fault && expected.Fault) problems.Add("unexpected access");
        if (verdict.Fault && expected.Fault && verdict.ErrorCode != expected.Error) problems.Add($"error code {verdict.ErrorCode:x} expected {expected.Error:x}");
        for (var i = 0; i < entries.Length; i++)
        {
            var level = cpu.RootLevel - i;
            if (verdict.SetBits(level) != expected.Set[i])
            {
                problems.Add($"level {level} set {verdict.SetBits(level):x} expected {expected.Set[i]:x}");
            }
        }

        if (problems.Count == 0)
        {
            return;
        }

        Failures++;
        for (var i = 0; i < _names.Length; i++)
        {
            if ((flags & (1u << i)) != 0)
            {
                _failWith[i]++;
            }
        }

        if (_failures.Count < 25)
        {
            _failures.Add($"FAIL [{label()}]: {string.Join("; ", problems)}");
        }
    }

    /// <summary>Fails with the first failures and the per-flag histogram, as ac_test_run prints them.</summary>
    public void AssertNoFailures(int combinations)
    {
        Assert.True(Tests == combinations, $"{Tests} combinations ran, expected {combinations}");
        Assert.True(ExpectedSuccesses > 0 && ExpectedSuccesses < Tests, $"{ExpectedSuccesses} of {Tests} combinations succeed: the enumeration must reach both outcomes");
        if (Failures == 0)
        {
            return;
        }

        var histogram = Enumerable.Range(0, _names.Length).Select(i => $"  {_names[i],-16} {_failWith[i]}");
        Assert.Fail($"{Tests} tests, {Failures} failures\n{string.Join('\n', _failures)}\nfailures by flag (out of {Failures}):\n{string.Join('\n', histogram)}");
    }
}
