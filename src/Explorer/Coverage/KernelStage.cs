using System.Diagnostics;
using System.Text.RegularExpressions;

namespace SpecKit.Explorer.Coverage;

/// <summary>
/// <c>speckit mutate</c>'s kernel stage: the layout swaps no model can judge, judged by the real
/// kernel. The model reads the guest's PTE layouts (spec/layouts/guest-pte.layout) only through
/// the base's generated types: GuestPageTables writes entries and GuestWalker reads them through
/// the same ones, so a mutant built as a variant drives no model, and one applied to the base
/// moves writer and reader alike, which no model-only scenario can tell. tests/Kernel.Tests'
/// GuestPagingTests build a guest's page tables from those types and let the kernel's walker
/// (arch/x86/kvm/mmu/paging_tmpl.h FNAME(walk_addr_generic), through /dev/kvm) use them with the
/// architectural bits. So each such mutant is applied to the base spec of a second scratch copy,
/// as a user's edit would be, the copy built, and those tests run: a failing test kills it. The
/// unedited copy runs first and must pass, or no verdict of the stage means anything.
/// </summary>
public sealed class KernelStage(string repoRoot, string root)
{
    /// <summary>The layouts whose mutants this stage judges: the guest's, which the model reads only through the base's types.</summary>
    public static readonly IReadOnlySet<string> JudgedLayouts = new HashSet<string>(StringComparer.Ordinal) { "GuestPteNonLeaf", "GuestPte4K", "GuestPde2M", "GuestPdpte1G" };

    /// <summary>The tests that judge them.</summary>
    public const string Filter = "FullyQualifiedName~SpecKit.Kernel.Tests.GuestPagingTests";

    private const string Project = "tests/Kernel.Tests/SpecKit.Kernel.Tests.csproj";

    public static bool Judges(Mutant mutant) => mutant.Layout is { } layout && JudgedLayouts.Contains(layout);

    /// <summary>Why the stage cannot run on this machine, or null.</summary>
    public static string? Unavailable => File.Exists("/dev/kvm") ? null : "no /dev/kvm on this machine";

    public string Root { get; } = Path.GetFullPath(root);

    private static readonly Regex FailedTest = new(@"^\s+Failed (?<name>\S+)", RegexOptions.Multiline);

    private static readonly Regex PassedCount = new(@"Passed:\s+(?<n>\d+)", RegexOptions.Multiline);

    /// <summary>Each mutant in turn applied to the base, built and judged; the copy's spec is restored after each.</summary>
    public Dictionary<string, MutantResult> Run(IReadOnlyList<Mutant> mutants, Action<string> log)
    {
        var scratch = new Scratch(repoRoot, Root);
        scratch.Prepare([]);
        var servers = CompilerServers();
        try
        {
            var control = Judge(scratch);
            if (control.Error is { } error || control.Failed.Count > 0 || control.Passed == 0)
            {
                throw new InvalidOperationException($"the kernel stage's unedited copy in {Root} does not pass {Filter}: {control.Error ?? (control.Passed == 0 ? "no test ran" : string.Join(", ", control.Failed))}");
            }

            log($"kernel: the unedited copy passes {control.Passed} test(s) of {Filter}");
            var results = new Dictionary<string, MutantResult>(StringComparer.Ordinal);
            foreach (var (mutant, i) in mutants.Select((m, i) => (m, i)))
            {
                var path = Path.Combine(scratch.Root, mutant.File);
                var original = File.ReadAllText(path);
                try
                {
                    var lines = original.Split('\n');
                    foreach (var (line, text) in mutant.BaseEdit)
                    {
                        lines[line - 1] = text;
                    }

                    File.WriteAllText(path, string.Join('\n', lines));
                    var verdict = Judge(scratch);
                    results[mutant.Id] = verdict.Error is { } why
                        ? new MutantResult(mutant.Id) { KernelNotRun = why }
                        : new MutantResult(mutant.Id) { KernelRan = true, KernelTests = verdict.Failed };
                    log($"kernel {i + 1}/{mutants.Count} {mutant.Id}: {(verdict.Error ?? (verdict.Failed.Count > 0 ? $"{verdict.Failed.Count} test(s) fail" : "all pass"))}");
                }
                finally
                {
                    File.WriteAllText(path, original);
                }
            }

            return results;
        }
        finally
        {
            StopServersSince(servers);
        }
    }

    private sealed record Verdict(int Passed, IReadOnlyList<string> Failed, string? Error);

    // The builds use the compiler server (the SDK's default, off on machines that set
    // UseSharedCompilation=false): each edit recompiles SpecKit.Mmu and what references it, and
    // a cold compiler process for each would triple the stage's time.
    private static Verdict Judge(Scratch scratch)
    {
        var (code, output) = scratch.Run("dotnet", ["build", Project, "-nologo", "-v", "q", "-clp:NoSummary", "-p:UseSharedCompilation=true"], null);
        if (code != 0)
        {
            var first = output.Split('\n').FirstOrDefault(l => l.Contains(": error ", StringComparison.Ordinal))?.Trim() ?? $"exit {code}";
            return new Verdict(0, [], $"its build failed: {first}");
        }

        (code, output) = scratch.Run("dotnet", ["test", Project, "--no-build", "--filter", Filter], null);
        var failed = FailedTest.Matches(output).Select(m => m.Groups["name"].Value).Distinct().Order(StringComparer.Ordinal).ToList();
        var passed = PassedCount.Match(output) is { Success: true } p ? int.Parse(p.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return code != 0 && failed.Count == 0 ? new Verdict(passed, [], $"the test run failed without a failing test (exit {code})") : new Verdict(passed, failed, null);
    }

    private static HashSet<int> CompilerServers() => [.. Process.GetProcessesByName("VBCSCompiler").Select(p => p.Id)];

    /// <summary>Stops the compiler servers this stage started, and only those (a user's own stays).</summary>
    private static void StopServersSince(HashSet<int> before)
    {
        foreach (var server in Process.GetProcessesByName("VBCSCompiler").Where(p => !before.Contains(p.Id)))
        {
            try
            {
                server.Kill();
            }
            catch (InvalidOperationException)
            {
                // it has exited already
            }
        }
    }
}
