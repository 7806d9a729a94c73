using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using SpecKit.Generators.Features.Gherkin;
using SpecKit.Generators.Features.Model;

namespace SpecKit.Generators.Features;

/// <summary>
/// Turns <c>features/**/*.feature</c> (AdditionalFiles) into xunit tests, binding every step
/// to a [Given]/[When]/[Then] method of the same compilation at build time. One class per
/// feature; editing one feature regenerates only its class. This file is the pipeline only.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class FeatureGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var features = context.AdditionalTextsProvider
            .Where(static t => t.Path.EndsWith(".feature", StringComparison.OrdinalIgnoreCase))
            .Select(static (t, ct) => Parse(t.Path, t.GetText(ct)?.ToString() ?? ""))
            .WithTrackingName(TrackingNames.Parse);

        var given = Steps(context, "GivenAttribute", StepKind.Given);
        var when = Steps(context, "WhenAttribute", StepKind.When);
        var then = Steps(context, "ThenAttribute", StepKind.Then);
        var parameterTypes = context.SyntaxProvider
            .ForAttributeWithMetadataName(BindingReader.Namespace + ".ParameterTypeAttribute", static (n, _) => true, static (c, ct) => BindingReader.ParameterTypes(c, ct))
            .SelectMany(static (x, _) => x)
            .Collect();
        var before = Hooks(context, "BeforeScenarioAttribute", after: false);
        var after = Hooks(context, "AfterScenarioAttribute", after: true);

        var bindings = given.Combine(when).Combine(then).Combine(parameterTypes).Combine(before).Combine(after)
            .Select(static (x, _) =>
            {
                var (((((g, w), t), p), b), a) = x;
                return new BindingSet(
                    g.Concat(w).Concat(t).OrderBy(s => s.Span.Path, StringComparer.Ordinal).ThenBy(s => s.Span.Start).ToEquatableArray(),
                    p.OrderBy(s => s.Span.Path, StringComparer.Ordinal).ThenBy(s => s.Span.Start).ToEquatableArray(),
                    b.Concat(a).OrderBy(s => s.Span.Path, StringComparer.Ordinal).ThenBy(s => s.Span.Start).ToEquatableArray());
            })
            .WithTrackingName(TrackingNames.Bindings);

        // Class names come from paths alone, so editing a feature's text leaves this unchanged
        // and only that feature is bound again.
        var clashes = features
            .Select(static (f, _) => (f.Path, f.DisplayPath))
            .Collect()
            .Select(static (files, _) => FeatureBinder.ClassNameClashes(files))
            .WithTrackingName(TrackingNames.ClassNames);

        var bound = features.Combine(bindings).Combine(clashes)
            .Select(static (x, _) => Guard(x.Left.Left.DisplayPath, () => FeatureBinder.Bind(x.Left.Left, x.Left.Right, x.Right)))
            .WithTrackingName(TrackingNames.Bind);

        context.RegisterSourceOutput(bound, static (spc, result) =>
        {
            foreach (var info in result.Diagnostics)
            {
                spc.ReportDiagnostic(info.ToDiagnostic(Diagnostics.Find(info.Id)));
            }

            // A warning (an unused Examples column) still gives the tests; an error gives none.
            if (result.Feature is { } feature && result.Diagnostics.All(d => Diagnostics.Find(d.Id).DefaultSeverity != DiagnosticSeverity.Error))
            {
                spc.AddSource(result.HintName, FeatureEmitter.Emit(feature));
            }
        });

        var bindingDiagnostics = bindings
            .Select(static (set, _) => FeatureBinder.Compiled(set).Diagnostics)
            .WithTrackingName(TrackingNames.BindingDiagnostics);
        context.RegisterSourceOutput(bindingDiagnostics, static (spc, list) =>
        {
            foreach (var info in list)
            {
                spc.ReportDiagnostic(info.ToDiagnostic(Diagnostics.Find(info.Id)));
            }
        });

        // The step library shows each step as a feature really uses it, so it reads every feature;
        // it is one small file, and the feature classes above do not depend on it.
        var library = bindings.Combine(features.Collect())
            .Select(static (x, _) => StepLibraryEmitter.Emit(x.Left, x.Right))
            .WithTrackingName(TrackingNames.StepLibrary);
        context.RegisterSourceOutput(library, static (spc, text) =>
        {
            if (text.Length > 0)
            {
                spc.AddSource(StepLibraryEmitter.HintName, text);
            }
        });
    }

    private static IncrementalValueProvider<ImmutableArray<StepBinding>> Steps(IncrementalGeneratorInitializationContext context, string attribute, StepKind kind) =>
        context.SyntaxProvider
            .ForAttributeWithMetadataName(BindingReader.Namespace + "." + attribute, static (n, _) => true, (c, ct) => BindingReader.Steps(c, kind, ct))
            .SelectMany(static (x, _) => x)
            .Collect();

    private static IncrementalValueProvider<ImmutableArray<HookBinding>> Hooks(IncrementalGeneratorInitializationContext context, string attribute, bool after) =>
        context.SyntaxProvider
            .ForAttributeWithMetadataName(BindingReader.Namespace + "." + attribute, static (n, _) => true, (c, ct) => BindingReader.Hooks(c, after, ct))
            .SelectMany(static (x, _) => x)
            .Collect();

    internal static FeatureFile Parse(string path, string text)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                starts.Add(i + 1);
            }
        }

        GherkinParseResult result;
        try
        {
            result = GherkinParser.Parse(text);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result = new GherkinParseResult(null, new[] { new GherkinError($"internal parser failure ({e.GetType().Name}: {e.Message})", 1, 1) }.ToEquatableArray());
        }

        return new FeatureFile(path, DisplayPath(path), result, starts.ToEquatableArray()) { InvalidUtf8 = Undecodable(text, starts) };
    }

    /// <summary>The compiler turns bytes that are not UTF-8 into U+FFFD and says nothing; this finds the first one.</summary>
    private static Gherkin.Location? Undecodable(string text, List<int> lineStarts)
    {
        var at = text.IndexOf('\uFFFD');
        if (at < 0)
        {
            return null;
        }

        var line = lineStarts.FindLastIndex(start => start <= at);
        return new Gherkin.Location(line + 1, at - lineStarts[line] + 1);
    }

    /// <summary>The path from the last <c>features/</c> folder on, so generated names and snapshot folders name no machine's directories.</summary>
    internal static string DisplayPath(string path)
    {
        var normalized = path.Replace('\\', '/');
        if (normalized.StartsWith("features/", StringComparison.Ordinal))
        {
            return normalized;
        }

        var at = normalized.LastIndexOf("/features/", StringComparison.Ordinal);
        return at >= 0 ? normalized.Substring(at + 1) : normalized.Substring(normalized.LastIndexOf('/') + 1);
    }

    /// <summary>A generator must never throw: a binder bug becomes FEAT099 on the feature it choked on.</summary>
    private static FeatureResult Guard(string displayPath, Func<FeatureResult> bind)
    {
        try
        {
            return bind();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var info = DiagnosticInfo.Create(Diagnostics.InternalError, null, $"binding {displayPath}", $"{e.GetType().Name} in {e.TargetSite?.Name}: {e.Message}");
            return new FeatureResult(FeatureEmitter.ClassNameFor(displayPath) + ".g.cs", null, new[] { info }.ToEquatableArray());
        }
    }
}

/// <summary>Names of the pipeline steps, for incrementality tests.</summary>
public static class TrackingNames
{
    public const string Parse = "Features.Parse";
    public const string Bindings = "Features.Bindings";
    public const string ClassNames = "Features.ClassNames";
    public const string Bind = "Features.Bind";
    public const string BindingDiagnostics = "Features.BindingDiagnostics";
    public const string StepLibrary = "Features.StepLibrary";
}
