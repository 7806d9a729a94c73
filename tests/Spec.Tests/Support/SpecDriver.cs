using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SpecKit.Generators.Spec;
using SpecKit.Testing.Generators;

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

    public static string Render(IEnumerable<Diagnostic> diagnostics) => DiagnosticText.Render(diagnostics);
}

public sealed record SpecFile(string Path, string Text);
