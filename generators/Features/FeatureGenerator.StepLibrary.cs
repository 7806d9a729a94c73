using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using SpecKit.Generators.Features.Binding;
using SpecKit.Generators.Features.Model;

namespace SpecKit.Generators.Features;

/// <summary>
/// The step library as Markdown, made from the bindings themselves so that docs/steps.md
/// cannot drift: a test compares the file with <c>StepLibrary.Markdown</c>.
/// </summary>
internal static class StepLibraryEmitter
{
    public const string HintName = "StepLibrary.g.cs";

    public static string Markdown(BindingSet set, IReadOnlyList<FeatureFile> features)
    {
        var usage = Usage(set, features);
        var text = new StringBuilder();
        text.Append("# Step library\n\n");
        text.Append("Generated from the step definitions (`[Given]`, `[When]`, `[Then]`) by the feature generator;\n");
        text.Append("a test fails when this file is out of date (`SPECKIT_ACCEPT=1 dotnet test` rewrites it).\n");
        foreach (var group in set.Steps.GroupBy(s => s.Kind).OrderBy(g => g.Key))
        {
            text.Append("\n## ").Append(group.Key).Append("\n\n");
            text.Append("| step | parameters | example | defined in |\n|---|---|---|---|\n");
            foreach (var step in group.OrderBy(s => s.Expression ?? s.Regex, System.StringComparer.Ordinal))
            {
                var parameters = string.Join(", ", step.Parameters.Select(p => $"`{p.Name}`: {p.ClrType.Replace("global::", "")}{(p.IsEnum ? " (" + string.Join("/", p.EnumMembers) + ")" : "")}"));
                text.Append("| `").Append(Cell(step.Expression ?? "/" + step.Regex + "/")).Append("` | ")
                    .Append(Cell(parameters)).Append(" | ")
                    .Append(Cell(usage.TryGetValue(step, out var used) ? used : Example(step, set))).Append(" | ")
                    .Append(Cell(step.Display)).Append(" |\n");
            }
        }

        if (set.ParameterTypes.Count > 0)
        {
            text.Append("\n## Parameter types\n\n| type | matches | accepts (checked at build time) | converted by |\n|---|---|---|---|\n");
            foreach (var type in set.ParameterTypes.OrderBy(t => t.Name, System.StringComparer.Ordinal))
            {
                text.Append("| `{").Append(type.Name).Append("}` | `").Append(Cell(type.Regex)).Append("` | ")
                    .Append(Cell(AcceptedFormCheck.Describe(type))).Append(" | ")
                    .Append(Cell(type.Converter.Replace("global::", ""))).Append(" |\n");
            }
        }

        return text.ToString();
    }

    /// <summary>An example step text: each parameter replaced by a typical value of its type.</summary>
    private static string Example(StepBinding step, BindingSet set)
    {
        if (step.Expression is null)
        {
            return "";
        }

        var index = 0;
        var example = Regex.Replace(step.Expression, "\\{([^}]*)\\}", m =>
        {
            var parameter = index < step.Parameters.Count ? step.Parameters[index++] : null;
            return m.Groups[1].Value switch
            {
                "int" or "long" or "byte" or "short" => parameter?.ClrType is "ulong" or "uint" ? "0x1000" : "1",
                "float" or "double" => "1.5",
                "string" => "\"text\"",
                "word" => parameter?.IsEnum == true && parameter.EnumMembers.Count > 0 ? parameter.EnumMembers[0] : "word",
                "" => "anything",
                var custom => set.ParameterTypes.FirstOrDefault(t => t.Name == custom) is { } type
                    ? type.Accepts.Words.Count > 0 ? type.Accepts.Words[0] : type.Accepts.Integer ? "0x1000" : "<" + custom + ">"
                    : "<" + custom + ">",
            };
        });
        return step.Kind + " " + Regex.Replace(example, "\\(([^)]*)\\)", "$1");
    }

    /// <summary>For each step definition, the first step in the features (by path) that binds to it.</summary>
    private static Dictionary<StepBinding, string> Usage(BindingSet set, IReadOnlyList<FeatureFile> features)
    {
        var compiled = FeatureBinder.Compiled(set);
        var usage = new Dictionary<StepBinding, string>();
        foreach (var file in features.OrderBy(f => f.DisplayPath, System.StringComparer.Ordinal))
        {
            foreach (var step in Steps(file.Parse.Document?.Feature?.Children))
            {
                if (step.Text.Contains("<"))
                {
                    continue;
                }

                foreach (var (binding, _) in compiled.Matches(step.Text, null))
                {
                    if (!usage.ContainsKey(binding.Binding))
                    {
                        usage[binding.Binding] = step.Keyword.Trim() + " " + step.Text;
                    }
                }
            }
        }

        return usage;
    }

    private static IEnumerable<Gherkin.Step> Steps(EquatableArray<Gherkin.FeatureChild>? children) =>
        children is null
            ? []
            : children.Value.SelectMany(c => c switch
            {
                Gherkin.Background b => b.Steps,
                Gherkin.Scenario s => s.Steps,
                Gherkin.Rule r => Steps(r.Children),
                _ => [],
            });

    /// <summary>
    /// Every step definition and hook in the order of the binding set (the index a bound step
    /// carries), with its pattern and source line, for the stepDefinition and hook messages.
    /// </summary>
    private static void EmitDefinitions(IndentedWriter w, BindingSet set)
    {
        var parameterTypes = FeatureBinder.Compiled(set).Bindings.GroupBy(c => c.Binding).ToDictionary(g => g.Key, g => g.First().Pattern.ParameterTypeNames);
        var displays = set.Steps.GroupBy(s => s.Display).ToDictionary(g => g.Key, g => g.Count());
        w.Line("public static readonly global::SpecKit.Features.StepDefinitionInfo[] Definitions =");
        w.Line("[");
        for (var i = 0; i < set.Steps.Count; i++)
        {
            var step = set.Steps[i];
            var id = displays[step.Display] == 1 ? step.Display : step.Display + "#" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var names = step.Regex is null && parameterTypes.TryGetValue(step, out var found) ? string.Join(", ", found.Select(ArgumentConverter.StringLiteral)) : "";
            w.Line($"    new({ArgumentConverter.StringLiteral(id)}, {ArgumentConverter.StringLiteral(step.Expression ?? step.Regex ?? "")}, {(step.Regex is not null ? "true" : "false")}, {ArgumentConverter.StringLiteral(step.Span.Path)}, {(step.Span.Line + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)}, [{names}]),");
        }

        w.Line("];");
        w.Line();
        w.Line("public static readonly global::SpecKit.Features.HookInfo[] Hooks =");
        w.Line("[");
        foreach (var hook in set.Hooks)
        {
            var tags = string.Join(" or ", hook.Tags.Select(t => t.StartsWith("@", System.StringComparison.Ordinal) ? t : "@" + t));
            w.Line($"    new({ArgumentConverter.StringLiteral(hook.Display)}, {(hook.After ? "true" : "false")}, {ArgumentConverter.StringLiteral(tags)}, {ArgumentConverter.StringLiteral(hook.Span.Path)}, {(hook.Span.Line + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)}),");
        }

        w.Line("];");
    }

    private static string Cell(string text) => text.Replace("|", "\\|").Replace("\n", " ");

    public static string Emit(BindingSet set, IReadOnlyList<FeatureFile> features)
    {
        if (set.Steps.Count == 0 && set.Hooks.Count == 0)
        {
            return "";
        }

        var w = new IndentedWriter();
        w.Line("// <auto-generated/>");
        w.Line("#nullable enable");
        w.Line();
        w.Line($"namespace {FeatureEmitter.Namespace};");
        w.Line();
        w.Line("/// <summary>The step library, for docs/steps.md, and the step definitions and hooks the tests name in their messages.</summary>");
        using (w.Block("internal static class StepLibrary"))
        {
            w.Line($"public const string Markdown = {ArgumentConverter.StringLiteral(Markdown(set, features))};");
            w.Line();
            EmitDefinitions(w, set);
        }

        return w.ToString();
    }
}
