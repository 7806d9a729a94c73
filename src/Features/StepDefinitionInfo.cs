namespace SpecKit.Features;

/// <summary>
/// A step definition as the feature generator saw it (the step library's table), so a running
/// scenario can name the definition each step matched in its messages.
/// </summary>
/// <param name="Id">The method, e.g. <c>SpecKit.Behaviour.Steps.VmSteps.AVm</c> (with <c>#index</c> when a method has several).</param>
/// <param name="Pattern">The Cucumber Expression or, when <paramref name="IsRegex"/>, the regular expression.</param>
/// <param name="ParameterTypeNames">The parameter type of each argument, in order (empty for a regex group).</param>
public sealed record StepDefinitionInfo(string Id, string Pattern, bool IsRegex, string SourcePath, int Line, IReadOnlyList<string> ParameterTypeNames);

/// <summary>A [BeforeScenario]/[AfterScenario] hook from the step library's table.</summary>
/// <param name="TagExpression">The tags it is scoped to, joined by <c>or</c>; empty for every scenario.</param>
public sealed record HookInfo(string Id, bool After, string TagExpression, string SourcePath, int Line);
