using System;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

/// <summary>
/// Reads <c>spec/**/*.{layout,walker,policy}</c> (passed as AdditionalFiles) and emits the
/// MMU model: one C# file per layout, constants block, walker, iterator and operation policy,
/// for the base spec and again for each variant in its own namespace. This file is the
/// pipeline only.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class SpecGenerator : IIncrementalGenerator
{
    public static readonly string[] Extensions = [".layout", ".walker", ".policy"];

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var documents = context.AdditionalTextsProvider
            .Where(static text => Extensions.Any(e => text.Path.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Select(static (text, ct) => Guard(text.Path, () => SpecParser.Parse(text.Path, text.GetText(ct)?.ToString() ?? "")))
            .WithTrackingName(TrackingNames.Parse);

        var spec = documents
            .Collect()
            .Select(static (docs, _) => ResolveGuarded(docs))
            .WithTrackingName(TrackingNames.Resolve);

        var units = spec
            .SelectMany(static (set, _) => set.Units)
            .WithTrackingName(TrackingNames.Units);

        var diagnostics = spec
            .Select(static (set, _) => set.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);

        context.RegisterSourceOutput(units, static (spc, unit) =>
        {
            string text;
            try
            {
                text = SpecEmitter.Emit(unit);
            }
            catch (Exception e)
            {
                spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.InternalError, Location.None, $"emitting {unit.HintName}", e.Message));
                return;
            }

            spc.AddSource(unit.HintName, text);
        });

        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var info in list)
            {
                spc.ReportDiagnostic(info.ToDiagnostic(Diagnostics.Find(info.Id)));
            }
        });
    }

    /// <summary>A generator must never throw: a parser bug becomes SPEC099 on the file it choked on.</summary>
    private static SpecDocument Guard(string path, Func<SpecDocument> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var info = DiagnosticInfo.Create(Diagnostics.InternalError, SourceSpan.At(path, 0, 0, 0, 0), $"parsing {SpecValidator.DisplayPath(path)}", $"{e.GetType().Name} in {e.TargetSite?.Name}: {e.Message}");
            return new SpecDocument(path, null, EquatableArray<LayoutDecl>.Empty, EquatableArray<ConstantsDecl>.Empty, EquatableArray<WalkerDecl>.Empty, EquatableArray<OperationDecl>.Empty, EquatableArray<ConstantsDecl>.Empty, new[] { info }.ToEquatableArray());
        }
    }

    private static SpecSet ResolveGuarded(ImmutableArray<SpecDocument> documents)
    {
        try
        {
            return SpecValidator.Resolve(documents);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var info = DiagnosticInfo.Create(Diagnostics.InternalError, null, "checking the spec", $"{e.GetType().Name} in {e.TargetSite?.Name}: {e.Message}");
            return new SpecSet(EquatableArray<EmitUnit>.Empty, new[] { info }.ToEquatableArray());
        }
    }
}

/// <summary>Names of the pipeline steps, for incrementality tests.</summary>
public static class TrackingNames
{
    public const string Parse = "Spec.Parse";
    public const string Resolve = "Spec.Resolve";
    public const string Units = "Spec.Units";
    public const string Diagnostics = "Spec.Diagnostics";
}
