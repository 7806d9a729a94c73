using System.Text;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// A behaviour in which this host's KVM differs from the model's EPT/NPT host, declared by a
/// scenario tag: where <see cref="Applies"/> holds for the kernel answering, the kernel's test
/// also runs the model made like that host (<see cref="ModelTheHost"/>), and a step whose
/// kernel result differs from the model's is declared only if the model of the host gives
/// exactly the kernel's result. Nothing is compared more loosely.
/// </summary>
public sealed record HostDeclaration(string Tag, Func<IKvmVm, bool> Applies, Action<Kvm> ModelTheHost, string Reason)
{
    public static readonly HostDeclaration[] All =
    [
        new(
            "host-emulates-writes",
            vm => vm.Host.DirtyEvents == DirtyEventSource.EveryWriteInstruction,
            kvm => kvm.GuestRunsInEmulator = true,
            "the host runs the guest in KVM's instruction emulator: every store goes through kvm_vcpu_write_guest() and mark_page_dirty(), so each store instruction is one dirty event (a ring entry even for a page already dirty, a write between harvest and RESET included), and no SPTE is mapped or write-protected"),
        new(
            "host-faults-as-mmio",
            vm => vm.Host.HostFaults == HostFaultExit.Mmio,
            kvm => kvm.GuestRunsInEmulator = true,
            "the host runs the guest in KVM's instruction emulator: when kvm_vcpu_read/write_guest() fails on the memory behind a memslot, emulator_read_write_onepage() exits to userspace as KVM_EXIT_MMIO, where an EPT/NPT host's hva_to_pfn() fails KVM_RUN with -EFAULT"),
        new(
            "host-maps-no-sptes",
            vm => !vm.Host.StatsCountMappedPages,
            kvm => kvm.GuestRunsInEmulator = true,
            "the host runs the guest in KVM's instruction emulator and never maps an SPTE: pages_4k, pages_2m and pages_1g stay 0 (kvm_update_page_stats() is never called), and a load reads through kvm_vcpu_read_guest(), so no read fault installs a writable SPTE that make_spte() would mark dirty"),
        new(
            "host-without-memory-attributes",
            vm => vm.CheckExtension(KvmCap.MemoryAttributes) == KvmResult.Ok(0),
            kvm => kvm.GenericMemoryAttributes = false,
            "the host's kernel is built without CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES (KVM_CAP_MEMORY_ATTRIBUTES is 0): kvm_vm_ioctl() has no KVM_SET_MEMORY_ATTRIBUTES and answers -ENOTTY"),
    ];
}

/// <summary>
/// The kernel test's record of a <c>@kvm</c> scenario: each step's result on the model and on
/// the kernel side by side (and on the model of this host where a declaration applies), with
/// the verdict; the report is the scenario's <c>differential</c> snapshot.
/// </summary>
public sealed class Differential
{
    private readonly List<Row> _rows = [];

    private sealed class Row(string step)
    {
        public string Step { get; } = step;

        public Dictionary<string, List<string>> Results { get; } = [];

        public List<HostDeclaration> Declared { get; } = [];

        public bool Differs { get; set; }
    }

    public IReadOnlyList<string> Header { get; set; } = [];

    /// <summary>The declarations whose difference some step needed.</summary>
    public HashSet<HostDeclaration> Used { get; } = [];

    private Row RowFor(string step)
    {
        if (_rows.Count == 0 || _rows[^1].Step != step)
        {
            _rows.Add(new Row(step));
        }

        return _rows[^1];
    }

    /// <summary>A step that asked only the model (its SPTEs, its checker, its host's events).</summary>
    public void ModelOnly(string step) => RowFor(step);

    /// <summary>Records one call's results; throws for a difference that no applying declaration explains.</summary>
    public void Record(string step, IReadOnlyList<(Backend Backend, string Result)> results, IReadOnlyList<HostDeclaration> declarations)
    {
        var row = RowFor(step);
        foreach (var (backend, result) in results)
        {
            if (!row.Results.TryGetValue(backend.Name, out var list))
            {
                row.Results[backend.Name] = list = [];
            }

            list.Add(result);
        }

        var model = results.Single(r => r.Backend.Name == "model").Result;
        var kernel = results.SingleOrDefault(r => r.Backend.Name == "kernel").Result;
        if (kernel is null || kernel == model)
        {
            return;
        }

        var host = results.SingleOrDefault(r => r.Backend.Name == VmWorld.ModelOfThisHost).Result;
        if (host is not null && host == kernel)
        {
            row.Declared.AddRange(declarations.Except(row.Declared));
            Used.UnionWith(declarations);
            return;
        }

        row.Differs = true;
        throw new Xunit.Sdk.XunitException(
            $"the kernel and the model differ, and no declared host behaviour explains it:\n  model:  {model}\n  kernel: {kernel}"
            + (host is null ? "" : $"\n  model of this host ({string.Join(", ", declarations.Select(d => "@" + d.Tag))}): {host}")
            + "\n" + Report());
    }

    public string Report()
    {
        var text = new StringBuilder();
        foreach (var line in Header)
        {
            text.Append(line).Append('\n');
        }

        foreach (var row in _rows)
        {
            var verdict = row.Results.Count == 0 ? "model only"
                : row.Differs ? "DIFFERS"
                : row.Declared.Count > 0 ? "declared"
                : "same";
            text.Append('\n').Append($"[{verdict}]").Append(' ').Append(row.Step).Append('\n');
            foreach (var (backend, results) in row.Results)
            {
                text.Append("    ").Append((backend + ":").PadRight(20)).Append(string.Join("; ", results)).Append('\n');
            }

            foreach (var declaration in row.Declared)
            {
                text.Append("    @").Append(declaration.Tag).Append(": ").Append(declaration.Reason).Append('\n');
            }
        }

        return text.ToString();
    }
}
