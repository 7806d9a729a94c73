using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using SpecKit.Generators.Spec;

namespace SpecKit.Spec.Tests.Support;

/// <summary>Runs the spec generator in memory over given spec texts, as the compiler would.</summary>
public static class SpecDriver
{
    /// <summary>The real spec/ files, with paths relative to the repository ("spec/layouts/...").</summary>
    public static IReadOnlyList<SpecFile> RealSpec() =>
        Directory.GetFiles(RepoPaths.Spec, "*", SearchOption.AllDirectories)
            .Where(p => SpecGenerator.Extensions.Any(e => p.EndsWith(e, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)
            .Select(p => new SpecFile(RepoPaths.Relative(p), File.ReadAllText(p)))
            .ToList();

    public static AdditionalText ToText(SpecFile file) => new InMemoryText(file.Path, file.Text);

    public static GeneratorDriver CreateDriver(IEnumerable<SpecFile> files) => CreateDriver(files.Select(ToText));

    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText> texts) =>
        CSharpGeneratorDriver.Create(
            [new SpecGenerator().AsSourceGenerator()],
            additionalTexts: texts.ToImmutableArray(),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static Compilation EmptyCompilation() => CSharpCompilation.Create("SpecKit.Mmu.Probe");

    public static GeneratorRunResult Run(IEnumerable<SpecFile> files) =>
        CreateDriver(files).RunGenerators(EmptyCompilation()).GetRunResult().Results.Single();

    /// <summary>path(line,col): error ID: message, 1-based, sorted: the form a build log shows.</summary>
    public static string Render(IEnumerable<Diagnostic> diagnostics) =>
        string.Join(
            "\n",
            diagnostics
                .Select(d =>
                {
                    var span = d.Location.GetLineSpan();
                    var where = d.Location == Location.None ? "(no location)" : $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})";
                    return $"{where}: {d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
                })
                .Order(StringComparer.Ordinal));

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }
}

public sealed record SpecFile(string Path, string Text);
