using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace SpecKit.Explorer.Coverage;

/// <summary>
/// The scratch copy of the repository the mutants are built in (TestResults/mutate/repo): the
/// repository's files, with every mutant a variant under spec/variants/mutants/, so one build
/// compiles them all (each a model of SpecKit.Mmu.SpecModels) and the behaviour suite and the
/// explorer reach each by name. The copy is kept between runs, so its build is incremental.
/// </summary>
public sealed class Scratch(string repoRoot, string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    public string MutantsDir => Path.Combine(Root, "spec", "variants", "mutants");

    private static readonly HashSet<string> Skipped = ["bin", "obj", "TestResults", ".git", "BenchmarkDotNet.Artifacts", "node_modules", ".vs"];

    /// <summary>Copies what changed in the repository (keeping timestamps, so an unchanged project stays built) and writes the mutants.</summary>
    public void Prepare(IEnumerable<Mutant> mutants)
    {
        var source = Path.GetFullPath(repoRoot);
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Walk(source))
        {
            var relative = Path.GetRelativePath(source, file);
            wanted.Add(relative);
            var target = Path.Combine(Root, relative);
            var info = new FileInfo(file);
            var existing = new FileInfo(target);
            if (existing.Exists && existing.Length == info.Length && existing.LastWriteTimeUtc == info.LastWriteTimeUtc)
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
            File.SetLastWriteTimeUtc(target, info.LastWriteTimeUtc);
        }

        // Files deleted from the repository go from the copy too (a stale source file would still compile).
        foreach (var file in Walk(Root).Where(f => !f.StartsWith(MutantsDir + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
        {
            if (!wanted.Contains(Path.GetRelativePath(Root, file)))
            {
                File.Delete(file);
            }
        }

        Directory.CreateDirectory(MutantsDir);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var mutant in mutants)
        {
            var path = Path.Combine(MutantsDir, mutant.Id + mutant.Extension);
            names.Add(Path.GetFileName(path));
            if (!File.Exists(path) || File.ReadAllText(path) != mutant.VariantText)
            {
                File.WriteAllText(path, mutant.VariantText);
            }
        }

        foreach (var stale in Directory.GetFiles(MutantsDir).Where(f => !names.Contains(Path.GetFileName(f))))
        {
            File.Delete(stale);
        }
    }

    private static IEnumerable<string> Walk(string dir)
    {
        foreach (var file in Directory.EnumerateFiles(dir))
        {
            yield return file;
        }

        foreach (var sub in Directory.EnumerateDirectories(dir).Where(d => !Skipped.Contains(Path.GetFileName(d))))
        {
            foreach (var file in Walk(sub))
            {
                yield return file;
            }
        }
    }

    private static readonly Regex MutantError = new(
        @"spec/variants/mutants/(?<id>Mut_\w+)\.(policy|layout)\((?<line>\d+),(?<col>\d+)\): error (?<code>SPEC\d+): (?<message>.*?)(\s+\[[^\]]*\])?$",
        RegexOptions.Multiline);

    /// <summary>
    /// Builds the behaviour suite and the command line in the copy. A mutant the spec generator
    /// refuses is taken out (with its diagnostic, which is its verdict) and the build runs again;
    /// any other error fails the run.
    /// </summary>
    public Dictionary<string, string> Build(Action<string> log)
    {
        var rejected = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var attempt = 0; ; attempt++)
        {
            var (code, output) = Run("dotnet", ["build", "tests/Behaviour/SpecKit.Behaviour.Tests.csproj", "-nologo", "-v", "q", "-clp:NoSummary"], null);
            if (code == 0)
            {
                (code, output) = Run("dotnet", ["build", "tools/SpecKit.Cli/SpecKit.Cli.csproj", "-nologo", "-v", "q", "-clp:NoSummary"], null);
            }

            if (code == 0)
            {
                return rejected;
            }

            var refused = MutantError.Matches(output).GroupBy(m => m.Groups["id"].Value).ToList();
            if (refused.Count == 0 || attempt == 3)
            {
                throw new InvalidOperationException($"the scratch build in {Root} failed:\n{output}");
            }

            foreach (var mutant in refused)
            {
                var first = mutant.First();
                rejected[mutant.Key] = $"{first.Groups["code"].Value}: {first.Groups["message"].Value.Trim()}";
                log($"refused by the spec generator: {mutant.Key}: {rejected[mutant.Key]}");
                foreach (var file in Directory.GetFiles(MutantsDir, mutant.Key + ".*"))
                {
                    File.Delete(file);
                }
            }
        }
    }

    public string Cli => Path.Combine(Root, "tools", "SpecKit.Cli", "bin", "Debug", "net10.0", "speckit.dll");

    public string BehaviourDll => Path.Combine(Root, "tests", "Behaviour", "bin", "Debug", "net10.0", "SpecKit.Behaviour.Tests.dll");

    private sealed record SweepVerdict(List<string> Differs, int Ran);

    /// <summary>
    /// The behaviour suite under every model in <paramref name="ids"/>, in one process (the
    /// behaviour tests' MutantSweep, which runs the scenarios as SPECKIT_MODEL does): for each, the
    /// scenarios whose verdict is <c>differs</c>; unless <paramref name="allScenarios"/>, only the
    /// first (a model's run stops there). A model the sweep gave no verdict (the run was cut short)
    /// is left out.
    /// </summary>
    public Dictionary<string, MutantResult> BehaviourSweep(IReadOnlyList<string> ids, bool allScenarios, int threads, Action<string> log)
    {
        var dir = Path.Combine(Root, "TestResults");
        Directory.CreateDirectory(dir);
        var list = Path.Combine(dir, "mutate-sweep-ids.txt");
        var output = Path.Combine(dir, "mutate-sweep.json");
        File.WriteAllLines(list, ids);
        File.Delete(output);
        var env = new Dictionary<string, string>
        {
            ["SPECKIT_MUTATE_SWEEP"] = list,
            ["SPECKIT_MUTATE_SWEEP_OUT"] = output,
            ["SPECKIT_MUTATE_SWEEP_ALL"] = allScenarios ? "1" : "",
            ["SPECKIT_MUTATE_SWEEP_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var (code, text) = Run("dotnet", ["test", BehaviourDll, "--filter", "FullyQualifiedName~SpecKit.Behaviour.MutantSweep"], env);
        if (!File.Exists(output))
        {
            throw new InvalidOperationException($"the behaviour sweep wrote no verdicts (exit {code}):\n{text}");
        }

        if (code != 0)
        {
            log($"the behaviour sweep exited {code}: {FailedTest.Matches(text).Count} failed test(s)");
        }

        var verdicts = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, SweepVerdict>>(File.ReadAllText(output))!;
        return verdicts.ToDictionary(v => v.Key, v => new MutantResult(v.Key) { Scenarios = [.. v.Value.Differs.Order(StringComparer.Ordinal)], ScenariosRun = v.Value.Ran });
    }

    /// <summary>The sweep's progress log, one line per model done.</summary>
    public string SweepLog => Path.Combine(Root, "TestResults", "mutate-sweep.json.log");

    private static readonly Regex FailedTest = new(@"^\s+Failed (?<name>\S+)", RegexOptions.Multiline);

    /// <summary>The behaviour suite with SPECKIT_MODEL=<paramref name="id"/>: the scenarios whose verdict is <c>differs</c>.</summary>
    public MutantResult Behaviour(string id)
    {
        var summary = Path.Combine(Root, "TestResults", $"speckit-model-{id}.txt");
        File.Delete(summary);
        var (code, output) = Run("dotnet", ["test", BehaviourDll, "--filter", "Category=behaviour"], new() { ["SPECKIT_MODEL"] = id });
        var verdicts = File.Exists(summary) ? File.ReadAllLines(summary) : [];
        var differs = verdicts.Where(l => l.StartsWith("differs", StringComparison.Ordinal))
            .Select(l => l["differs".Length..].Trim())
            .Order(StringComparer.Ordinal)
            .ToList();
        if (verdicts.Length == 0)
        {
            return new MutantResult(id) { BehaviourNotRun = $"the behaviour suite wrote no verdicts (exit {code})", FailedTests = Failed(output) };
        }

        return new MutantResult(id) { Scenarios = differs, FailedTests = code != 0 && differs.Count == 0 ? Failed(output) : [] };

        static List<string> Failed(string output) => FailedTest.Matches(output).Select(m => m.Groups["name"].Value).Distinct().Order(StringComparer.Ordinal).ToList();
    }

    public (int Code, string Output) Run(string file, IReadOnlyList<string> args, Dictionary<string, string>? env)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["SPECKIT_MODEL"] = "";
        start.Environment["SPECKIT_ACCEPT"] = "";
        foreach (var (key, value) in env ?? [])
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        return (process.ExitCode, output.ToString());
    }
}
