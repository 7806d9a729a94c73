namespace SpecKit.Generators.Features.Model;

// What the generator learns from the step-definition code, as equatable values with no
// Roslyn symbols, so editing a .feature file does not re-run the binding discovery.

internal enum StepKind
{
    Given,
    When,
    Then,
}

internal enum ParameterKind
{
    Value,
    DataTable,
    DocString,
}

/// <summary>A step-definition method's parameter: its C# type, fully qualified, and enum members when it is an enum.</summary>
internal sealed record ParameterModel(string Name, string ClrType, ParameterKind Kind, bool IsEnum, EquatableArray<string> EnumMembers);

/// <summary>One [Given]/[When]/[Then] attribute on a method.</summary>
internal sealed record StepBinding(
    StepKind Kind,
    string? Expression,
    string? Regex,
    string ClassName,
    string MethodName,
    bool IsStatic,
    bool IsAccessible,
    bool ClassHasBindingAttribute,
    EquatableArray<ParameterModel> Parameters,
    SourceSpan Span)
{
    public string Display => $"{ClassName.Replace("global::", "")}.{MethodName}";

    public string Pattern => Regex is null ? $"\"{Expression}\"" : $"Regex = \"{Regex}\"";
}

/// <summary>A [ParameterType("name", "regex")] conversion method.</summary>
internal sealed record ParameterTypeBinding(string Name, string Regex, string Converter, string ReturnType, bool IsValidMethod, SourceSpan Span)
{
    /// <summary>What the type accepts, checked at build time; <see cref="AcceptedForm.Any"/> leaves it all to the method.</summary>
    public AcceptedForm Accepts { get; init; } = AcceptedForm.Any;
}

/// <summary>
/// What a custom parameter type accepts beyond its regex (<c>Words</c>, <c>WordsOf</c>,
/// <c>Integer</c>/<c>Min</c>/<c>Max</c>, <c>Description</c> of [ParameterType]). Bounds are
/// decimal text so the record stays equatable and holds the full ulong and long ranges.
/// </summary>
/// <param name="Problem">Why the declaration itself is wrong (FEAT011), or null.</param>
internal sealed record AcceptedForm(EquatableArray<string> Words, string? WordsFrom, bool Integer, string? Min, string? Max, string? Description, string? Problem)
{
    public static readonly AcceptedForm Any = new(EquatableArray<string>.Empty, null, false, null, null, null, null);
}

/// <summary>A [BeforeScenario]/[AfterScenario] hook.</summary>
internal sealed record HookBinding(bool After, EquatableArray<string> Tags, int Order, string ClassName, string MethodName, bool IsStatic, SourceSpan Span)
{
    public string Display => $"{ClassName.Replace("global::", "")}.{MethodName}";
}

internal sealed record BindingSet(EquatableArray<StepBinding> Steps, EquatableArray<ParameterTypeBinding> ParameterTypes, EquatableArray<HookBinding> Hooks);
