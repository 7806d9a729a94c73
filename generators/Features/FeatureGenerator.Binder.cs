using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using SpecKit.Generators.Features.Binding;
using SpecKit.Generators.Features.Gherkin;
using SpecKit.Generators.Features.Model;

namespace SpecKit.Generators.Features;

/// <summary>
/// Binds every step of one feature to exactly one step definition, at build time: an
/// undefined or ambiguous step, or an argument that does not convert, is a compile error at
/// the step's line. The result holds the C# call for each step, arguments already converted.
/// </summary>
internal sealed class FeatureBinder
{
    private static readonly ConcurrentDictionary<string, Regex> RegexCache = new();

    /// <summary>"Scenario Outline", "Scenario Template" and their translations: an outline with no Examples is an error.</summary>
    private static readonly Lazy<HashSet<string>> OutlineKeywords = new(() =>
        new HashSet<string>(GherkinDialects.Languages.SelectMany(l => GherkinDialects.TryGet(l)!.ScenarioOutlineKeywords), StringComparer.Ordinal));

    private readonly FeatureFile _file;
    private readonly List<CompiledBinding> _bindings;
    private readonly BindingSet _set;
    private readonly List<DiagnosticInfo> _diagnostics = [];

    private FeatureBinder(FeatureFile file, BindingSet set, List<CompiledBinding> bindings)
    {
        _file = file;
        _set = set;
        _bindings = bindings;
    }

    /// <summary>A step definition with its pattern compiled; invalid ones are reported once by <see cref="CompileBindings"/>.</summary>
    internal sealed record CompiledBinding(StepBinding Binding, CompiledStepPattern Pattern);

    public static FeatureResult Bind(FeatureFile file, BindingSet set)
    {
        var hint = FeatureEmitter.ClassNameFor(file.DisplayPath) + ".g.cs";
        var diagnostics = new List<DiagnosticInfo>();
        if (!file.Parse.Success || file.Parse.Document?.Feature is null)
        {
            foreach (var error in file.Parse.Errors)
            {
                var message = error.Message;
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.GherkinSyntax, file.Span(error.Line, System.Math.Max(1, error.Column), 1), message));
            }

            return new FeatureResult(hint, null, diagnostics.ToEquatableArray());
        }

        var binder = new FeatureBinder(file, set, CompileBindings(set, null));
        var feature = binder.BindFeature(file.Parse.Document.Feature);
        return new FeatureResult(hint, feature, binder._diagnostics.ToEquatableArray());
    }

    /// <summary>Compiles every step pattern; reports invalid ones when <paramref name="report"/> is given.</summary>
    public static List<CompiledBinding> CompileBindings(BindingSet set, List<DiagnosticInfo>? report)
    {
        var types = new Dictionary<string, ParameterType>(StringComparer.Ordinal);
        foreach (var builtIn in BuiltInParameterTypes.All)
        {
            types[builtIn.Name] = builtIn;
        }

        foreach (var custom in set.ParameterTypes)
        {
            string? problem = null;
            if (!custom.IsValidMethod)
            {
                problem = "the method must be a static, public or internal method taking one string and returning the value";
            }
            else if (custom.Name.Length == 0 || custom.Name.Any(c => !(char.IsLetterOrDigit(c) || c == '_')))
            {
                problem = "a parameter type name is letters, digits and '_'";
            }
            else if (types.ContainsKey(custom.Name))
            {
                problem = BuiltInParameterTypes.All.Any(b => b.Name == custom.Name) ? "a built-in type has this name" : "it is registered twice";
            }
            else if (!IsValidRegex(custom.Regex, out var regexError))
            {
                problem = "its regex is invalid: " + regexError;
            }

            if (problem is not null)
            {
                report?.Add(DiagnosticInfo.Create(Diagnostics.InvalidParameterType, custom.Span, custom.Name, custom.Converter.Replace("global::", ""), problem));
                continue;
            }

            types[custom.Name] = new ParameterType(custom.Name, new[] { custom.Regex }.ToEquatableArray(), custom.Converter);
        }

        var compiled = new List<CompiledBinding>();
        foreach (var binding in set.Steps)
        {
            string? error;
            CompiledStepPattern? pattern;
            if (!binding.ClassHasBindingAttribute || !binding.IsAccessible)
            {
                report?.Add(DiagnosticInfo.Create(
                    Diagnostics.InvalidBinding,
                    binding.Span,
                    binding.Display,
                    !binding.ClassHasBindingAttribute ? "its class needs [Binding]" : "a step definition must be a public, non-generic method of a public or internal class"));
                continue;
            }

            if ((binding.Expression is null) == (binding.Regex is null))
            {
                report?.Add(DiagnosticInfo.Create(Diagnostics.InvalidExpression, binding.Span, $"[{binding.Kind}]", binding.Display, "give either a Cucumber Expression or Regex = \"...\", not both and not neither"));
                continue;
            }

            var ok = binding.Regex is not null
                ? CucumberExpression.TryCompileRegex(binding.Regex, out pattern, out error)
                : CucumberExpression.TryCompile(binding.Expression!, types, out pattern, out error);
            if (!ok || pattern is null)
            {
                report?.Add(DiagnosticInfo.Create(Diagnostics.InvalidExpression, binding.Span, $"[{binding.Kind}({binding.Pattern})]", binding.Display, error ?? "invalid"));
                continue;
            }

            compiled.Add(new CompiledBinding(binding, pattern));
        }

        return compiled;
    }

    private static bool IsValidRegex(string regex, out string? error)
    {
        try
        {
            _ = new Regex(regex);
            error = null;
            return true;
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return false;
        }
    }

    private BoundFeature BindFeature(Feature feature)
    {
        var featureTags = feature.Tags.Select(t => t.Name.TrimStart('@')).ToList();
        var tests = new List<BoundTest>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var methodNames = new HashSet<string>(StringComparer.Ordinal);
        BindChildren(feature.Children, [], featureTags, null);
        return new BoundFeature(
            FeatureEmitter.ClassNameFor(_file.DisplayPath),
            _file.DisplayPath,
            feature.Name,
            _file.Path,
            featureTags.ToEquatableArray(),
            tests.ToEquatableArray());

        void BindChildren(EquatableArray<FeatureChild> children, List<Step> inheritedBackground, List<string> tags, string? ruleName)
        {
            var background = new List<Step>(inheritedBackground);
            foreach (var child in children)
            {
                switch (child)
                {
                    case Background b:
                        background.AddRange(b.Steps);
                        break;
                    case Rule r:
                        BindChildren(r.Children, background, tags.Concat(r.Tags.Select(t => t.Name.TrimStart('@'))).ToList(), r.Name);
                        break;
                    case Scenario s:
                        var fullName = ruleName is null || ruleName.Length == 0 ? s.Name : $"{ruleName}: {s.Name}";
                        if (names.TryGetValue(fullName, out var firstLine))
                        {
                            Report(Diagnostics.DuplicateScenario, s.Location, s.Keyword.Length + 1 + s.Name.Length, fullName, firstLine.ToString(CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            names[fullName] = s.Location.Line;
                        }

                        tests.AddRange(BindScenario(s, fullName, background, tags.Concat(s.Tags.Select(t => t.Name.TrimStart('@'))).ToList(), methodNames));
                        break;
                }
            }
        }
    }

    private IEnumerable<BoundTest> BindScenario(Scenario scenario, string name, List<Step> background, List<string> tags, HashSet<string> methodNames)
    {
        var isOutline = scenario.Examples.Count > 0 || OutlineKeywords.Value.Contains(scenario.Keyword);
        if (!isOutline)
        {
            var row = BindRow(background.Concat(scenario.Steps).ToList(), tags, null, null);
            yield return new BoundTest(UniqueMethodName(name, methodNames), name, name, scenario.Location.Line, tags.Distinct().ToEquatableArray(), false, new[] { row }.ToEquatableArray());
            yield break;
        }

        if (scenario.Examples.Count == 0 || scenario.Examples.All(e => e.TableHeader is null))
        {
            Report(Diagnostics.OutlineWithoutExamples, scenario.Location, scenario.Keyword.Length, name);
            yield break;
        }

        var block = 0;
        foreach (var examples in scenario.Examples)
        {
            block++;
            if (examples.TableHeader is null)
            {
                continue;
            }

            var header = examples.TableHeader.Cells.Select(c => c.Value).ToList();
            var duplicate = header.GroupBy(h => h, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                Report(Diagnostics.DuplicateExamplesHeader, examples.TableHeader.Location, 1, name, duplicate.Key);
                continue;
            }

            var exampleTags = tags.Concat(examples.Tags.Select(t => t.Name.TrimStart('@'))).Distinct().ToList();
            var rows = new List<BoundRow>();
            foreach (var body in examples.TableBody)
            {
                var values = header.Zip(body.Cells.Select(c => c.Value), (h, v) => (h, v)).ToList();
                var label = string.Join(", ", values.Select(p => $"{p.h}={p.v}"));
                rows.Add(BindRow(background.Concat(scenario.Steps).ToList(), exampleTags, values, examples.Location.Line));
                rows[rows.Count - 1] = rows[rows.Count - 1] with { Label = label };
            }

            var suffix = scenario.Examples.Count == 1 ? "" : examples.Name.Length > 0 ? $" ({examples.Name})" : $" (Examples {block})";
            yield return new BoundTest(UniqueMethodName(name + suffix, methodNames), name + suffix, name, scenario.Location.Line, exampleTags.ToEquatableArray(), true, rows.ToEquatableArray());
        }
    }

    private BoundRow BindRow(List<Step> steps, List<string> tags, List<(string Name, string Value)>? example, int? examplesLine)
    {
        var bound = new List<BoundStep>();
        StepKind? previous = null;
        foreach (var step in steps)
        {
            var kind = step.KeywordType switch
            {
                StepKeywordType.Context => StepKind.Given,
                StepKeywordType.Action => StepKind.When,
                StepKeywordType.Outcome => StepKind.Then,
                StepKeywordType.Conjunction => previous,
                _ => (StepKind?)null,
            };
            previous = kind ?? previous;
            var text = example is null ? step.Text : Substitute(step, step.Text, example, examplesLine);
            if (text is null)
            {
                continue;
            }

            if (BindStep(step, kind, text, example, examplesLine) is { } call)
            {
                bound.Add(new BoundStep(step.Keyword.Trim(), text, step.Location.Line, call));
            }
        }

        var before = Hooks(after: false, tags);
        var after = Hooks(after: true, tags);
        return new BoundRow(null, before, bound.ToEquatableArray(), after);
    }

    private EquatableArray<BoundCall> Hooks(bool after, List<string> tags) =>
        _set.Hooks
            .Where(h => h.After == after && (h.Tags.Count == 0 || h.Tags.Any(tags.Contains)))
            .OrderBy(h => h.Order)
            .ThenBy(h => h.Display, StringComparer.Ordinal)
            .Select(h => new BoundCall(h.Display, h.IsStatic ? $"{h.ClassName}.{h.MethodName}()" : $"context.Get<{h.ClassName}>().{h.MethodName}()"))
            .ToEquatableArray();

    /// <summary>Replaces <c>&lt;column&gt;</c> placeholders with the example row's values.</summary>
    private string? Substitute(Step step, string text, List<(string Name, string Value)> example, int? examplesLine)
    {
        var missing = Regex.Matches(text, "<([^<>]+)>").Cast<Match>().Select(m => m.Groups[1].Value).FirstOrDefault(n => example.All(e => e.Name != n));
        if (missing is not null)
        {
            Report(Diagnostics.UnusedPlaceholder, step.Location, step.Keyword.Length + text.Length, step.Text, missing, (examplesLine ?? 0).ToString(CultureInfo.InvariantCulture));
            return null;
        }

        foreach (var (name, value) in example)
        {
            text = text.Replace("<" + name + ">", value);
        }

        return text;
    }

    private string? BindStep(Step step, StepKind? kind, string text, List<(string Name, string Value)>? example, int? examplesLine)
    {
        var matches = new List<(CompiledBinding Binding, Match Match)>();
        foreach (var candidate in _bindings)
        {
            if (kind is { } k && candidate.Binding.Kind != k)
            {
                continue;
            }

            var match = RegexCache.GetOrAdd(candidate.Pattern.Regex, p => new Regex(p, RegexOptions.CultureInvariant)).Match(text);
            if (match.Success)
            {
                matches.Add((candidate, match));
            }
        }

        var keyword = step.Keyword.Trim();
        var length = step.Keyword.Length + step.Text.Length;
        if (matches.Count == 0)
        {
            var (expression, parameters) = CucumberExpression.SuggestFor(text);
            var attribute = (kind ?? StepKind.Given).ToString();
            var snippet = $"[{attribute}(\"{expression.Replace("\"", "\\\"")}\")] public void {MethodNameFor(expression)}({Append(parameters, step)}) {{ ... }}";
            Report(Diagnostics.UndefinedStep, step.Location, length, keyword, text, snippet);
            return null;
        }

        if (matches.Count > 1)
        {
            var list = string.Join("; ", matches.Select(m => $"{m.Binding.Binding.Display} [{m.Binding.Binding.Kind}({m.Binding.Binding.Pattern})] at {m.Binding.Binding.Span.Display}"));
            Report(Diagnostics.AmbiguousStep, step.Location, length, keyword, text, matches.Count.ToString(CultureInfo.InvariantCulture), list);
            return null;
        }

        var (chosen, found) = matches[0];
        var binding = chosen.Binding;
        var valueParameters = binding.Parameters.Where(p => p.Kind == ParameterKind.Value).ToList();
        var captures = found.Groups.Cast<Group>().Skip(1).ToList();
        if (valueParameters.Count != captures.Count)
        {
            Report(Diagnostics.ParameterCountMismatch, step.Location, length, text, binding.Display, valueParameters.Count.ToString(CultureInfo.InvariantCulture), captures.Count.ToString(CultureInfo.InvariantCulture), "");
            return null;
        }

        var arguments = new List<string>();
        var captureIndex = 0;
        foreach (var parameter in binding.Parameters)
        {
            switch (parameter.Kind)
            {
                case ParameterKind.Value:
                    var capture = captures[captureIndex];
                    var typeName = chosen.Pattern.ParameterTypeNames[captureIndex];
                    captureIndex++;
                    var custom = _set.ParameterTypes.FirstOrDefault(p => p.Name == typeName);
                    if (custom is not null && custom.ReturnType != parameter.ClrType)
                    {
                        Report(Diagnostics.BadArgument, step.Location, length, text, parameter.Name, binding.Display, $"{{{typeName}}} converts to {custom.ReturnType.Replace("global::", "")}, but the parameter is {parameter.ClrType.Replace("global::", "")}");
                        return null;
                    }

                    if (!ArgumentConverter.TryConvert(capture.Value, typeName, parameter.ClrType, custom?.Converter, parameter.IsEnum, parameter.EnumMembers.ToList(), out var expression, out var error))
                    {
                        Report(Diagnostics.BadArgument, step.Location, length, text, parameter.Name, binding.Display, error ?? "cannot convert");
                        return null;
                    }

                    arguments.Add(expression);
                    break;
                case ParameterKind.DataTable:
                    if (step.DataTable is null)
                    {
                        Report(Diagnostics.StepArgumentMismatch, step.Location, length, text, $"{binding.Display} takes a DataTable, but the step has no table");
                        return null;
                    }

                    arguments.Add(DataTableExpression(step.DataTable, example));
                    break;
                case ParameterKind.DocString:
                    if (step.DocString is null)
                    {
                        Report(Diagnostics.StepArgumentMismatch, step.Location, length, text, $"{binding.Display} takes a DocString, but the step has none");
                        return null;
                    }

                    var content = example is null ? step.DocString.Content : example.Aggregate(step.DocString.Content, (c, e) => c.Replace("<" + e.Name + ">", e.Value));
                    arguments.Add($"new global::SpecKit.Features.DocString({ArgumentConverter.StringLiteral(content)}, {(step.DocString.MediaType is { } m ? ArgumentConverter.StringLiteral(m) : "null")})");
                    break;
            }
        }

        if (step.DataTable is not null && binding.Parameters.All(p => p.Kind != ParameterKind.DataTable))
        {
            Report(Diagnostics.StepArgumentMismatch, step.Location, length, text, $"the step has a table, but {binding.Display} has no DataTable parameter");
            return null;
        }

        if (step.DocString is not null && binding.Parameters.All(p => p.Kind != ParameterKind.DocString))
        {
            Report(Diagnostics.StepArgumentMismatch, step.Location, length, text, $"the step has a doc string, but {binding.Display} has no DocString parameter");
            return null;
        }

        var target = binding.IsStatic ? binding.ClassName : $"context.Get<{binding.ClassName}>()";
        return $"{target}.{binding.MethodName}({string.Join(", ", arguments)})";
    }

    private static string DataTableExpression(Gherkin.DataTable table, List<(string Name, string Value)>? example)
    {
        var text = new StringBuilder("new global::SpecKit.Features.DataTable(new string[][] { ");
        foreach (var row in table.Rows)
        {
            text.Append("new[] { ");
            text.Append(string.Join(", ", row.Cells.Select(c => ArgumentConverter.StringLiteral(example is null ? c.Value : example.Aggregate(c.Value, (v, e) => v.Replace("<" + e.Name + ">", e.Value))))));
            text.Append(" }, ");
        }

        return text.Append("})").ToString();
    }

    private static string Append(string parameters, Step step)
    {
        var extra = step.DataTable is not null ? "global::SpecKit.Features.DataTable table" : step.DocString is not null ? "global::SpecKit.Features.DocString text" : null;
        return extra is null ? parameters : parameters.Length == 0 ? extra : parameters + ", " + extra;
    }

    /// <summary>A PascalCase method name from the words of an expression, for the undefined-step snippet.</summary>
    private static string MethodNameFor(string expression)
    {
        var words = Regex.Matches(Regex.Replace(expression, "\\{[^}]*\\}", " "), "[A-Za-z0-9]+").Cast<Match>().Select(m => m.Value);
        var name = string.Concat(words.Select(w => char.ToUpperInvariant(w[0]) + w.Substring(1)));
        return name.Length == 0 || char.IsDigit(name[0]) ? "Step" + name : name;
    }

    private static string UniqueMethodName(string name, HashSet<string> taken)
    {
        var baseName = FeatureEmitter.Identifier(name);
        var candidate = baseName;
        for (var i = 2; !taken.Add(candidate); i++)
        {
            candidate = baseName + "_" + i.ToString(CultureInfo.InvariantCulture);
        }

        return candidate;
    }

    private void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, Location location, int length, params string[] args)
    {
        var info = DiagnosticInfo.Create(descriptor, _file.Span(location.Line, System.Math.Max(1, location.Column), length), args);
        if (!_diagnostics.Contains(info))
        {
            _diagnostics.Add(info);
        }
    }
}
