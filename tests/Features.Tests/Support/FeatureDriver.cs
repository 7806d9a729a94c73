using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SpecKit.Generators.Features;
using SpecKit.Testing.Generators;

namespace SpecKit.Tests.Features.Support;

/// <summary>Runs the feature generator in memory over feature texts and step-definition sources, as a build would.</summary>
public static class FeatureDriver
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat([typeof(SpecKit.Features.GivenAttribute).Assembly.Location, typeof(SpecKit.Testing.Snapshot).Assembly.Location, typeof(FactAttribute).Assembly.Location])
            .Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray());

    public static CSharpCompilation Compilation(params string[] sources) =>
        CSharpCompilation.Create(
            "SpecKit.Features.Probe",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest), path: $"Steps{i}.cs")),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static AdditionalText Text(string path, string text) => new InMemoryText(path, text);

    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText> features) =>
        CSharpGeneratorDriver.Create(
            [new FeatureGenerator().AsSourceGenerator()],
            additionalTexts: features.ToImmutableArray(),
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static (GeneratorRunResult Result, Compilation Output) Run(IEnumerable<AdditionalText> features, params string[] steps)
    {
        var driver = CreateDriver(features).RunGeneratorsAndUpdateCompilation(Compilation(steps), out var output, out _);
        return (driver.GetRunResult().Results.Single(), output);
    }

    public static string Render(IEnumerable<Diagnostic> diagnostics) => DiagnosticText.Render(diagnostics);
}
