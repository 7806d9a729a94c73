using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SpecKit.Generators.Features;
using SpecKit.Testing;
using SpecKit.Testing.Generators;

namespace SpecKit.Explorer.Tests.Support;

/// <summary>
/// Runs printed features as the behaviour suite would: the feature generator compiles them, in
/// memory, against the suite's own step definitions (tests/Behaviour/Steps, read from the
/// repository), and each generated scenario method is invoked. This is the same binding and the
/// same steps as pasting the feature under features/ and running tests/Behaviour, without a
/// second build.
/// </summary>
public static class PrintedFeatures
{
    /// <summary>The usings the behaviour project gets from the SDK (ImplicitUsings) and its own csproj (Xunit).</summary>
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using Xunit;
        """;

    /// <summary>
    /// What tests/Behaviour references: not the explorer (whose namespace, SpecKit.Explorer, would
    /// hide the concurrency steps' SpecKit.Mmu.Concurrency.Explorer), its tests or the generators.
    /// </summary>
    private static bool BehaviourReferences(string path) =>
        Path.GetFileName(path) is var name && !name.StartsWith("SpecKit.Explorer", StringComparison.Ordinal) && !name.StartsWith("SpecKit.Generators", StringComparison.Ordinal);

    /// <summary>The failure message of each scenario (null where it passed), by feature path.</summary>
    public static Dictionary<string, string?> Run(IReadOnlyDictionary<string, string> features)
    {
        var steps = Directory.GetFiles(Path.Combine(RepoPaths.Root, "tests", "Behaviour", "Steps"), "*.cs")
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), new CSharpParseOptions(LanguageVersion.Latest), path: f))
            .Append(CSharpSyntaxTree.ParseText(ImplicitUsings, new CSharpParseOptions(LanguageVersion.Latest), path: "Usings.cs"));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            // The assemblies the behaviour project references (the model, the kernel backend, the
            // feature runtime, xunit) are all in this project's output too.
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "SpecKit.*.dll"))
            .Concat([typeof(FactAttribute).Assembly.Location, typeof(Assert).Assembly.Location])
            .Distinct()
            .Where(BehaviourReferences)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            "SpecKit.Explorer.PrintedFeatures" + Guid.NewGuid().ToString("N"),
            steps,
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var driver = CSharpGeneratorDriver.Create(
            [new FeatureGenerator().AsSourceGenerator()],
            additionalTexts: features.Select(f => (AdditionalText)new InMemoryText(f.Key, f.Value)).ToImmutableArray(),
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest));
        driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var errors = generatorDiagnostics.Concat(output.GetDiagnostics()).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0)
        {
            throw new Xunit.Sdk.XunitException("the printed features do not compile:\n" + DiagnosticText.Render(errors));
        }

        using var image = new MemoryStream();
        var emitted = output.Emit(image);
        if (!emitted.Success)
        {
            throw new Xunit.Sdk.XunitException("the printed features do not emit:\n" + DiagnosticText.Render(emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        }

        var assembly = Assembly.Load(image.ToArray());
        var results = new Dictionary<string, string?>();
        foreach (var type in assembly.GetTypes().Where(t => t.Namespace == "SpecKit.Features.Generated" && t.GetField("FeatureFile", BindingFlags.NonPublic | BindingFlags.Static) is not null))
        {
            var file = (string)type.GetField("FeatureFile", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
            foreach (var scenario in type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.GetCustomAttribute<FactAttribute>() is not null))
            {
                try
                {
                    scenario.Invoke(Activator.CreateInstance(type), null);
                    results[file] = null;
                }
                catch (TargetInvocationException e)
                {
                    results[file] = e.InnerException?.ToString() ?? e.ToString();
                }
            }
        }

        return results;
    }
}
