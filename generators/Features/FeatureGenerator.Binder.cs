using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using SpecKit.Generators.Features.Binding;
using SpecKit.Generators.Features.Gherkin;
using SpecKit.Features;
using SpecKit.Generators.Features.Model;

namespace SpecKit.Generators.Features;

/// <summary>
/// Binds every step of one feature to exactly one step definition, at build time: an
/// undefined or ambiguous step, or an argument that does not convert, is a compile error at
/// the step's line. The result holds the C# call for each step, arguments already converted.
/// </summary>
internal sealed class FeatureBinder
{
    /// <summary>
    /// Every feature of one build is bound against the same <see cref="BindingSet"/> object, and
    /// the binding diagnostics and the step library read that object too, so its patterns are
    /// compiled and indexed once per build rather than once per feature or stage (a command-line
    /// build starts with empty incremental caches and binds all features).
    /// </summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<BindingSet, CompiledBindingSet> CompiledSets = new();

    /// <summary>"Scenario Outline", "Scenario Template" and their translations: an outline with no Examples is an error.</summary>
    private static readonly Lazy<HashSet<string>> OutlineKeywords = new(() =>
        new HashSet<string>(GherkinDialects.Languages.SelectMany(l => GherkinDialects.TryGet(l)!.ScenarioOutlineKeywords), StringComparer.Ordinal));

    private readonly FeatureFile _file;
    private readonly CompiledBindingSet _bindings;
    private readonly BindingSet _set;
    private readonly List<DiagnosticInfo> _diagnostics = [];

    private FeatureBinder(FeatureFile file, BindingSet set, CompiledBindingSet bindings)
    {
        _file = file;
        _set = set;
        _bindings = bindings;
    }

    /// <summary>
    /// A step definition with its pattern compiled; invalid ones are reported once by <see cref="Compiled"/>.
    /// <paramref name="Definition"/> is its index in the set's steps, the step library's table.
    /// </summary>
    internal sealed record CompiledBinding(StepBinding Binding, CompiledStepPattern Pattern, int Definition)
    {
        public Regex Regex { get; } = StepRegex.Get(Pattern.Regex);
    }

    /// <summary>A set's valid step definitions in its order, what is wrong with the others, and the index that finds a step's candidates.</summary>
    internal sealed class CompiledBindingSet(List<CompiledBinding> bindings, EquatableArray<DiagnosticInfo> diagnostics)
    {
        private readonly StepIndex _index = new(bindings.Select(b => b.Pattern.Regex).ToList());

        public List<CompiledBinding> Bindings { get; } = bindings;

        public EquatableArray<DiagnosticInfo> Diagnostics { get; } = diagnostics;

        /// <summary>
        /// The definitions (of <paramref name="kind"/>, or any kind) whose pattern matches
        /// <paramref name="text"/>, in the set's order: the same list as trying every
        /// definition's regex, since only those the index rules out are not tried.
        /// </summary>
        public List<(CompiledBinding Binding, Match Match)> Matches(string text, StepKind? kind)
        {
            var matches = new List<(CompiledBinding Binding, Match Match)>();
            foreach (var i in _index.Candidates(text))
            {
                var candidate = Bindings[i];
                if (kind is { } k && candidate.Binding.Kind != k)
                {
                    continue;
                }

                var match = candidate.Regex.Match(text);
                if (match.Success)
                {
                    matches.Add((candidate, match));
                }
            }

            return matches;
        }
    }

    /// <summary>The set's patterns compiled and indexed, once per set object.</summary>
    public static CompiledBindingSet Compiled(BindingSet set) => CompiledSets.GetValue(set, static s =>
    {
        var report = new List<DiagnosticInfo>();
        return new CompiledBindingSet(CompileBindings(s, report), report.ToEquatableArray());
    });

    public static FeatureResult Bind(FeatureFile file, BindingSet set, EquatableArray<ClassNameClash> clashes)
    {
        var hint = FeatureEmitter.ClassNameFor(file.DisplayPath) + ".g.cs";
        var diagnostics = new List<DiagnosticInfo>();
        if (file.InvalidUtf8 is { } bad)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InvalidUtf8, file.Span(bad.Line, bad.Column, 1), file.DisplayPath, bad.Line.ToString(CultureInfo.InvariantCulture), bad.Column.ToString(CultureInfo.InvariantCulture)));
        }

        // Each file of a clash says so itself, so the error is at both places.
        foreach (var clash in clashes.Where(c => c.Path == file.Path))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ClassNameClash, file.Span(1, 1, 0), file.DisplayPath, clash.OtherDisplayPath, clash.ClassName));
        }

        if (!file.Parse.Success || file.Parse.Document?.Feature is null)
        {
            foreach (var error in file.Parse.Errors)
            {
                var message = error.Message;
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.GherkinSyntax, file.Span(error.Line, System.Math.Max(1, error.Column), 1), message));
            }

            return new FeatureResult(hint, null, diagnostics.ToEquatableArray());
        }

        var binder = new FeatureBinder(file, set, Compiled(set));
        binder._diagnostics.AddRange(diagnostics);
        var feature = binder.BindFeature(file.Parse.Document.Feature);
        return new FeatureResult(hint, feature, binder._diagnostics.ToEquatableArray());
    }

    /// <summary>
    /// Feature files whose paths give one test class name (a-b.feature and a_b.feature, or two
    /// that differ only in case: the compiler compares generated file names ignoring case).
    /// </summary>
    public static EquatableArray<ClassNameClash> ClassNameClashes(IEnumerable<(string Path, string DisplayPath)> files)
    {
        var clashes = new List<ClassNameClash>();
        foreach (var group in files.GroupBy(f => FeatureEmitter.ClassNameFor(f.DisplayPath), StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            var members = group.OrderBy(f => f.DisplayPath, StringComparer.Ordinal).ToList();
            foreach (var file in members)
            {
                var other = members.First(m => m.Path != file.Path);
                clashes.Add(new ClassNameClash(file.Path, other.DisplayPath, FeatureEmitter.ClassNameFor(file.DisplayPath)));
            }
        }

        return clashes.ToEquatableArray();
    }

    /// <summary>Compiles every step pattern; reports invalid ones in <paramref name="report"/>.</summary>
    private static List<CompiledBinding> CompileBindings(BindingSet set, List<DiagnosticInfo> report)
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
            else if (AcceptedFormCheck.Problem(custom) is { } formProblem)
            {
                problem = formProblem;
            }

            if (problem is not null)
            {
                report.Add(DiagnosticInfo.Create(Diagnostics.InvalidParameterType, custom.Span, custom.Name, custom.Converter.Replace("global::", ""), problem));
                continue;
            }

            types[custom.Name] = new ParameterType(custom.Name, new[] { custom.Regex }.ToEquatableArray(), custom.Converter);
        }

        // A bound step names its definition by the first equal one's index (equal definitions
        // are one: two attributes always differ in where they are).
        var definitions = new Dictionary<StepBinding, int>();
        for (var i = 0; i < set.Steps.Count; i++)
        {
            if (!definitions.ContainsKey(set.Steps[i]))
            {
                definitions[set.Steps[i]] = i;
            }
        }

        var compiled = new List<CompiledBinding>();
        foreach (var binding in set.Steps)
        {
            string? error;
            CompiledStepPattern? pattern;
            if (!binding.ClassHasBindingAttribute || !binding.IsAccessible)
            {
                report.Add(DiagnosticInfo.Create(
                    Diagnostics.InvalidBinding,
                    binding.Span,
                    binding.Display,
                    !binding.ClassHasBindingAttribute ? "its class needs [Binding]" : "a step definition must be a public, non-generic method of a public or internal class"));
                continue;
            }

            if ((binding.Expression is null) == (binding.Regex is null))
            {
                report.Add(DiagnosticInfo.Create(Diagnostics.InvalidExpression, binding.Span, $"[{binding.Kind}]", binding.Display, "give either a Cucumber Expression or Regex = \"...\", not both and not neither"));
                continue;
            }

            var ok = binding.Regex is not null
                ? CucumberExpression.TryCompileRegex(binding.Regex, out pattern, out error)
                : CucumberExpression.TryCompile(binding.Expression!, types, out pattern, out error);
            if (!ok || pattern is null)
            {
                report.Add(DiagnosticInfo.Create(Diagnostics.InvalidExpression, binding.Span, $"[{binding.Kind}({binding.Pattern})]", binding.Display, error ?? "invalid"));
                continue;
            }

            compiled.Add(new CompiledBinding(binding, pattern, definitions[binding]));
        }

        return compiled;
    }

    private static bool IsValidRegex(string regex, out string? error)
    {
        try
        {
            _ = StepRegex.Get(regex);
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
        var snapshots = new Dictionary<string, (string What, Location Where)>(StringComparer.OrdinalIgnoreCase);
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
                        var duplicate = names.TryGetValue(fullName, out var firstLine);
                        if (duplicate)
                        {
                            Report(Diagnostics.DuplicateScenario, s.Location, s.Keyword.Length + 1 + s.Name.Length, fullName, firstLine.ToString(CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            names[fullName] = s.Location.Line;
                        }

                        var bound = BindScenario(s, fullName, background, tags.Concat(s.Tags.Select(t => t.Name.TrimStart('@'))).ToList(), methodNames).ToList();
                        foreach (var test in bound.Where(_ => !duplicate))
                        {
                            CheckSnapshotName(snapshots, test, s);
                        }

                        tests.AddRange(bound.SelectMany(test => OnBackends(test, methodNames)));

                        break;
                }
            }
        }
    }

    /// <summary>
    /// Each scenario (and outline row) owns its snapshot files, named from its names by
    /// <see cref="SnapshotNames"/>; names that differ only in what a file name drops ("The
    /// slot's table", "The slot_s table"), in case, or after 80 characters would share them.
    /// </summary>
    private void CheckSnapshotName(Dictionary<string, (string What, Location Where)> taken, BoundTest test, Scenario scenario)
    {
        var stem = SnapshotNames.Stem(_file.DisplayPath, test.ScenarioName, test.Row.Label, null);
        var where = test.Row.ExampleLine is { } row ? new Location(row, 1) : scenario.Location;
        var what = test.Row.Label is null ? $"Scenario '{test.ScenarioName}' (line {scenario.Location.Line})" : $"the Examples row at line {test.Row.ExampleLine} of '{test.ScenarioName}' ({test.Row.Label})";
        if (!taken.TryGetValue(stem, out var first))
        {
            taken[stem] = (what, where);
            return;
        }

        Report(Diagnostics.SnapshotNameClash, first.Where, 1, first.What, what, stem);
        Report(Diagnostics.SnapshotNameClash, where, 1, what, first.What, stem);
    }

    /// <summary>The tag that runs a scenario on the model and on the real kernel, as two tests.</summary>
    public const string KvmTag = "kvm";

    /// <summary>The backends a <c>@kvm</c> scenario runs on, in order: the model first.</summary>
    public static readonly string[] Backends = ["model", "kernel"];

    /// <summary>
    /// A scenario tagged <c>@kvm</c> is one test per backend, each named with its backend; both
    /// share the scenario's snapshots, so its snapshot names are checked once, before this.
    /// </summary>
    private static IEnumerable<BoundTest> OnBackends(BoundTest test, HashSet<string> methodNames)
    {
        if (!test.Tags.Contains(KvmTag))
        {
            yield return test;
            yield break;
        }

        methodNames.Remove(test.MethodName);
        foreach (var backend in Backends)
        {
            var display = $"{test.DisplayName} [{backend}]";
            yield return test with { MethodName = UniqueMethodName(display, methodNames), DisplayName = display, Backend = backend };
        }
    }

    private IEnumerable<BoundTest> BindScenario(Scenario scenario, string name, List<Step> background, List<string> tags, HashSet<string> methodNames)
    {
        var isOutline = scenario.Examples.Count > 0 || OutlineKeywords.Value.Contains(scenario.Keyword);
        if (!isOutline)
        {
            var row = BindRow(background.Concat(scenario.Steps).ToList(), tags, null, null);
            yield return new BoundTest(UniqueMethodName(name, methodNames), name, name, scenario.Location.Line, tags.Distinct().ToEquatableArray(), row);
            yield break;
        }

        if (scenario.Examples.Count == 0 || scenario.Examples.All(e => e.TableHeader is null))
        {
            Report(Diagnostics.OutlineWithoutExamples, scenario.Location, scenario.Keyword.Length, name);
            yield break;
        }

        var steps = background.Concat(scenario.Steps).ToList();
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

            ReportUnusedColumns(scenario, name, examples, steps);
            var exampleTags = tags.Concat(examples.Tags.Select(t => t.Name.TrimStart('@'))).Distinct().ToList();
            var hasPlaceholder = Regex.IsMatch(name, "<[^<>]+>");
            var suffix = scenario.Examples.Count == 1 ? "" : examples.Name.Length > 0 ? $" ({examples.Name})" : $" (Examples {block})";
            foreach (var body in examples.TableBody)
            {
                var values = header.Zip(body.Cells, (h, c) => new ExampleCell(h, c.Value, c.Location)).ToList();
                var label = string.Join(", ", values.Select(v => $"{v.Name}={v.Value}"));
                var row = BindRow(steps, exampleTags, values, examples.Location.Line) with { Label = label, ExampleLine = body.Location.Line };
                var title = values.Aggregate(name, (text, v) => text.Replace("<" + v.Name + ">", v.Value));
                var display = hasPlaceholder ? title + suffix : $"{title}{suffix} [{label}]";
                yield return new BoundTest(UniqueMethodName(display, methodNames), display, name, scenario.Location.Line, exampleTags.ToEquatableArray(), row);
            }
        }
    }

    /// <summary>A column no placeholder names is a value the scenario never reads: a typo in a header or in a step (a warning).</summary>
    private void ReportUnusedColumns(Scenario scenario, string name, Examples examples, List<Step> steps)
    {
        var texts = new List<string> { name };
        foreach (var step in steps)
        {
            texts.Add(step.Text);
            if (step.DocString is { } doc)
            {
                texts.Add(doc.Content);
                texts.Add(doc.MediaType ?? "");
            }

            texts.AddRange(step.DataTable?.Rows.SelectMany(r => r.Cells).Select(c => c.Value) ?? []);
        }

        foreach (var cell in examples.TableHeader!.Cells.Where(c => !texts.Any(t => t.Contains("<" + c.Value + ">"))))
        {
            Report(Diagnostics.UnusedExamplesColumn, cell.Location, cell.Value.Length, name, cell.Value);
        }
    }

    /// <summary>One Examples cell: its column's name, its value and where it is, so an error in a value points at the cell.</summary>
    private sealed record ExampleCell(string Name, string Value, Location Location);

    private BoundRow BindRow(List<Step> steps, List<string> tags, List<ExampleCell>? example, int? examplesLine)
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
            var text = example is null ? StepText.Plain(step) : Substitute(step, example, examplesLine);
            if (text is null)
            {
                continue;
            }

            if (BindStep(step, kind, text, example) is { } call)
            {
                bound.Add(new BoundStep(step.Keyword.Trim(), text.Text, step.Location.Line, call.Call, call.Definition, call.Arguments));
            }
        }

        var before = Hooks(after: false, tags);
        var after = Hooks(after: true, tags);
        return new BoundRow(null, null, before, bound.ToEquatableArray(), after);
    }

    private EquatableArray<BoundCall> Hooks(bool after, List<string> tags) =>
        _set.Hooks
            .Where(h => h.After == after && (h.Tags.Count == 0 || h.Tags.Any(tags.Contains)))
            .OrderBy(h => h.Order)
            .ThenBy(h => h.Display, StringComparer.Ordinal)
            .Select(h => new BoundCall(h.Display, h.IsStatic ? $"{h.ClassName}.{h.MethodName}()" : $"context.Get<{h.ClassName}>().{h.MethodName}()", IndexOf(_set.Hooks, h)))
            .ToEquatableArray();

    /// <summary>
    /// A step's text with, for each character, where it was written: on the step's line, or in
    /// the Examples cell a placeholder took it from. An argument's error then points at the
    /// argument, or at the cell that gave it.
    /// </summary>
    private sealed record StepText(string Text, EquatableArray<Location> Origins)
    {
        public static StepText Plain(Step step)
        {
            var column = step.Location.Column + step.Keyword.Length;
            return new StepText(step.Text, Enumerable.Range(0, step.Text.Length).Select(i => new Location(step.Location.Line, column + i)).ToEquatableArray());
        }

        /// <summary>Where the text from <paramref name="index"/> for <paramref name="length"/> characters was written, and how long it is there.</summary>
        public (Location Where, int Length) Origin(int index, int length, Step step)
        {
            if (index >= Origins.Count)
            {
                return (step.Location, step.Keyword.Length + step.Text.Length);
            }

            var start = Origins[index];
            var end = index;
            while (end + 1 < Math.Min(Origins.Count, index + length) && Origins[end + 1].Line == start.Line && Origins[end + 1].Column == Origins[end].Column + 1)
            {
                end++;
            }

            return (start, Math.Max(1, end - index + 1));
        }
    }

    /// <summary>Replaces <c>&lt;column&gt;</c> placeholders with the example row's values.</summary>
    private StepText? Substitute(Step step, List<ExampleCell> example, int? examplesLine)
    {
        var missing = Regex.Matches(step.Text, "<([^<>]+)>").Cast<Match>().Select(m => m.Groups[1].Value).FirstOrDefault(n => example.All(e => e.Name != n));
        if (missing is not null)
        {
            Report(Diagnostics.UnusedPlaceholder, step.Location, step.Keyword.Length + step.Text.Length, step.Text, missing, (examplesLine ?? 0).ToString(CultureInfo.InvariantCulture));
            return null;
        }

        var plain = StepText.Plain(step);
        var text = new StringBuilder();
        var origins = new List<Location>();
        var at = 0;
        foreach (Match placeholder in Regex.Matches(step.Text, "<([^<>]+)>"))
        {
            text.Append(step.Text, at, placeholder.Index - at);
            origins.AddRange(plain.Origins.Skip(at).Take(placeholder.Index - at));
            var cell = example.First(e => e.Name == placeholder.Groups[1].Value);
            text.Append(cell.Value);
            origins.AddRange(Enumerable.Range(0, cell.Value.Length).Select(i => new Location(cell.Location.Line, cell.Location.Column + i)));
            at = placeholder.Index + placeholder.Length;
        }

        text.Append(step.Text, at, step.Text.Length - at);
        origins.AddRange(plain.Origins.Skip(at));
        return new StepText(text.ToString(), origins.ToEquatableArray());
    }

    private static int IndexOf<T>(EquatableArray<T> items, T item)
        where T : IEquatable<T>
    {
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].Equals(item))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The call that runs a step, the step definition it binds (an index into the step
    /// library's table) and each argument's start and length in the text (start -1 for an
    /// optional group that did not match), for the messages' stepMatchArguments.
    /// </summary>
    private sealed record StepCall(string Call, int Definition, EquatableArray<int> Arguments);

    private StepCall? BindStep(Step step, StepKind? kind, StepText stepText, List<ExampleCell>? example)
    {
        var text = stepText.Text;
        var matches = _bindings.Matches(text, kind);

        var keyword = step.Keyword.Trim();
        var length = step.Keyword.Length + step.Text.Length;
        if (matches.Count == 0)
        {
            Report(Diagnostics.UndefinedStep, step.Location, length, keyword, text, Snippet(kind ?? StepKind.Given, text, step));
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

                    // An argument's error points at the argument (or the Examples cell it came from).
                    var (at, argumentLength) = stepText.Origin(capture.Index, capture.Length, step);
                    var custom = _set.ParameterTypes.FirstOrDefault(p => p.Name == typeName);
                    if (custom is not null && custom.ReturnType != parameter.ClrType)
                    {
                        Report(Diagnostics.BadArgument, step.Location, length, text, parameter.Name, binding.Display, $"{{{typeName}}} converts to {custom.ReturnType.Replace("global::", "")}, but the parameter is {parameter.ClrType.Replace("global::", "")}");
                        return null;
                    }

                    if (custom is not null && !AcceptedFormCheck.Accepts(custom, capture.Value, out var rejected))
                    {
                        Report(Diagnostics.BadArgument, at, argumentLength, text, parameter.Name, binding.Display, rejected!);
                        return null;
                    }

                    if (!ArgumentConverter.TryConvert(capture.Value, typeName, parameter.ClrType, custom?.Converter, parameter.IsEnum, parameter.EnumMembers.ToList(), out var expression, out var error))
                    {
                        Report(Diagnostics.BadArgument, at, argumentLength, text, parameter.Name, binding.Display, error ?? "cannot convert");
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
        var spans = captures.SelectMany(c => c.Success ? new[] { c.Index, c.Length } : new[] { -1, 0 }).ToEquatableArray();
        return new StepCall($"{target}.{binding.MethodName}({string.Join(", ", arguments)})", chosen.Definition, spans);
    }

    /// <summary>
    /// The step definition FEAT001 proposes, to paste as it is: a verbatim string (an expression
    /// escapes '(' and '/' with '\', which a regular C# string would read as escapes) and a body
    /// that compiles and says the step is still to be written.
    /// </summary>
    internal static string Snippet(StepKind kind, string text, Step step)
    {
        var (expression, parameters) = CucumberExpression.SuggestFor(text);
        return $"[{kind}(@\"{expression.Replace("\"", "\"\"")}\")] public void {MethodNameFor(expression)}({Append(parameters, step)}) {{ throw new global::System.NotImplementedException(\"step not written yet\"); }}";
    }

    private static string DataTableExpression(Gherkin.DataTable table, List<ExampleCell>? example)
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
