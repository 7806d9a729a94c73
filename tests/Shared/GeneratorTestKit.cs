// Shared by the generator test projects and the benchmarks (linked into each, since it needs
// Roslyn, which the runtime's SpecKit.Testing does not reference).
using System.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace SpecKit.Testing.Generators;

/// <summary>An AdditionalText held in memory, as the compiler hands spec and feature files to a generator.</summary>
public sealed class InMemoryText(string path, string text) : AdditionalText
{
    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
}

public static class DiagnosticText
{
    /// <summary>path(line,col): error ID: message, 1-based, sorted: the form a build log shows.</summary>
    public static string Render(IEnumerable<Diagnostic> diagnostics) =>
        string.Join(
            "\n",
            diagnostics
                .Select(d =>
                {
                    var span = d.Location.GetLineSpan();
                    var where = d.Location == Microsoft.CodeAnalysis.Location.None ? "(no location)" : $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})";
                    return $"{where}: {d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
                })
                .Order(StringComparer.Ordinal));
}

/// <summary>Runs the dotnet CLI in a scratch project, for tests that prove a generator works in a real build.</summary>
public static class DotnetCli
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string directory, string arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, stdout + await stderr);
    }

    /// <summary>A scratch folder whose empty Directory.Build.props keeps the repository's build rules out.</summary>
    public static string ScratchProject(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), "<Project />");
        return dir;
    }
}
