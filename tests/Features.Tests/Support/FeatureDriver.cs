using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using SpecKit.Generators.Features;

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

    /// <summary>path(line,col): error ID: message, sorted, 1-based, as a build log shows it.</summary>
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

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }
}
