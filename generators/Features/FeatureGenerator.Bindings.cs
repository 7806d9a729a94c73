using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using SpecKit.Generators.Features.Model;

namespace SpecKit.Generators.Features;

/// <summary>
/// Reads step definitions, parameter types and hooks out of the compilation into plain
/// records. This is the only place that touches Roslyn symbols.
/// </summary>
internal static class BindingReader
{
    public const string Namespace = "SpecKit.Features";

    private static readonly SymbolDisplayFormat Qualified = SymbolDisplayFormat.FullyQualifiedFormat;

    public static ImmutableArray<StepBinding> Steps(GeneratorAttributeSyntaxContext context, StepKind kind, CancellationToken ct)
    {
        if (context.TargetSymbol is not IMethodSymbol method)
        {
            return ImmutableArray<StepBinding>.Empty;
        }

        var parameters = method.Parameters.Select(Parameter).ToEquatableArray();
        var type = method.ContainingType;
        var hasBinding = type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == Namespace + ".BindingAttribute");
        var accessible = method.DeclaredAccessibility == Accessibility.Public && IsReachable(type) && !method.IsGenericMethod
            && (method.IsStatic || !type.IsAbstract);
        return context.Attributes
            .Select(a => new StepBinding(
                kind,
                a.ConstructorArguments.Length > 0 ? a.ConstructorArguments[0].Value as string : null,
                a.NamedArguments.FirstOrDefault(n => n.Key == "Regex").Value.Value as string,
                type.ToDisplayString(Qualified),
                method.Name,
                method.IsStatic,
                accessible,
                hasBinding,
                parameters,
                SpanOf(a, ct)))
            .ToImmutableArray();
    }

    public static ImmutableArray<ParameterTypeBinding> ParameterTypes(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        if (context.TargetSymbol is not IMethodSymbol method)
        {
            return ImmutableArray<ParameterTypeBinding>.Empty;
        }

        var valid = method.IsStatic && method.DeclaredAccessibility is Accessibility.Public or Accessibility.Internal
            && method.Parameters.Length == 1 && method.Parameters[0].Type.SpecialType == SpecialType.System_String
            && !method.ReturnsVoid && IsReachable(method.ContainingType);
        return context.Attributes
            .Select(a => new ParameterTypeBinding(
                a.ConstructorArguments.Length > 0 ? a.ConstructorArguments[0].Value as string ?? "" : "",
                a.ConstructorArguments.Length > 1 ? a.ConstructorArguments[1].Value as string ?? "" : "",
                $"{method.ContainingType.ToDisplayString(Qualified)}.{method.Name}",
                method.ReturnType.ToDisplayString(Qualified),
                valid,
                SpanOf(a, ct))
            {
                Accepts = Accepts(a),
            })
            .ToImmutableArray();
    }

    /// <summary>The named arguments of [ParameterType] that say what it accepts; the members of WordsOf are read here, from the symbol.</summary>
    private static AcceptedForm Accepts(AttributeData attribute)
    {
        var named = attribute.NamedArguments.ToDictionary(n => n.Key, n => n.Value);
        var words = named.TryGetValue("Words", out var w) && w.Kind == TypedConstantKind.Array
            ? w.Values.Select(v => v.Value as string ?? "").ToList()
            : [];
        string? wordsFrom = null;
        string? problem = null;
        if (named.TryGetValue("WordsOf", out var of))
        {
            if (of.Value is not INamedTypeSymbol type)
            {
                problem = "WordsOf must name a type";
            }
            else
            {
                wordsFrom = type.ToDisplayString(Qualified).Replace("global::", "");
                var members = type.TypeKind == TypeKind.Enum
                    ? type.GetMembers().OfType<IFieldSymbol>().Where(f => f.IsConst).Select(f => f.Name).ToList()
                    : type.GetMembers().OfType<IFieldSymbol>().Where(f => f.IsConst && f.DeclaredAccessibility == Accessibility.Public && f.ConstantValue is string).Select(f => (string)f.ConstantValue!).ToList();
                if (words.Count > 0)
                {
                    problem = "give Words or WordsOf, not both";
                }
                else if (members.Count == 0)
                {
                    problem = $"WordsOf = typeof({wordsFrom}) names no words: it must be an enum, or a class with public const strings";
                }

                words = members;
            }
        }

        var hasMin = named.TryGetValue("Min", out var min);
        var hasMax = named.TryGetValue("Max", out var max);
        var integer = (named.TryGetValue("Integer", out var i) && i.Value is true) || hasMin || hasMax;
        return new AcceptedForm(
            words.ToEquatableArray(),
            wordsFrom,
            integer,
            hasMin ? System.Convert.ToString(min.Value, System.Globalization.CultureInfo.InvariantCulture) : null,
            hasMax ? System.Convert.ToString(max.Value, System.Globalization.CultureInfo.InvariantCulture) : null,
            named.TryGetValue("Description", out var d) ? d.Value as string : null,
            problem);
    }

    public static ImmutableArray<HookBinding> Hooks(GeneratorAttributeSyntaxContext context, bool after, CancellationToken ct)
    {
        if (context.TargetSymbol is not IMethodSymbol method)
        {
            return ImmutableArray<HookBinding>.Empty;
        }

        return context.Attributes
            .Select(a => new HookBinding(
                after,
                a.ConstructorArguments.Length > 0 && a.ConstructorArguments[0].Kind == TypedConstantKind.Array
                    ? a.ConstructorArguments[0].Values.Select(v => (v.Value as string ?? "").TrimStart('@')).ToEquatableArray()
                    : EquatableArray<string>.Empty,
                a.NamedArguments.FirstOrDefault(n => n.Key == "Order").Value.Value as int? ?? 0,
                method.ContainingType.ToDisplayString(Qualified),
                method.Name,
                method.IsStatic,
                SpanOf(a, ct)))
            .ToImmutableArray();
    }

    private static ParameterModel Parameter(IParameterSymbol p)
    {
        var typeName = p.Type.ToDisplayString(Qualified);
        var kind = typeName switch
        {
            "global::SpecKit.Features.DataTable" => ParameterKind.DataTable,
            "global::SpecKit.Features.DocString" => ParameterKind.DocString,
            _ => ParameterKind.Value,
        };
        var isEnum = p.Type.TypeKind == TypeKind.Enum;
        var members = isEnum
            ? p.Type.GetMembers().OfType<IFieldSymbol>().Where(f => f.IsConst).Select(f => f.Name).ToEquatableArray()
            : EquatableArray<string>.Empty;
        return new ParameterModel(p.Name, SimpleName(p.Type, typeName), kind, isEnum, members);
    }

    /// <summary>Special types by their C# keyword ("int"), so the converter can recognise them.</summary>
    private static string SimpleName(ITypeSymbol type, string qualified) =>
        type.SpecialType == SpecialType.None ? qualified : type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat);

    private static bool IsReachable(INamedTypeSymbol? type)
    {
        for (; type is not null; type = type.ContainingType)
        {
            if (type.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal))
            {
                return false;
            }
        }

        return true;
    }

    private static SourceSpan SpanOf(AttributeData attribute, CancellationToken ct)
    {
        var location = attribute.ApplicationSyntaxReference?.GetSyntax(ct).GetLocation();
        if (location is null || location.SourceTree is null)
        {
            return SourceSpan.At("", 0, 0, 0, 0);
        }

        var line = location.GetLineSpan();
        return new SourceSpan(
            line.Path,
            location.SourceSpan.Start,
            location.SourceSpan.Length,
            line.StartLinePosition.Line,
            line.StartLinePosition.Character,
            line.EndLinePosition.Line,
            line.EndLinePosition.Character);
    }
}
