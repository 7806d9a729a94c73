namespace SpecKit.Features;

/// <summary>Marks a class whose methods define steps or hooks (Reqnroll's name). Instances are made per scenario.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class BindingAttribute : Attribute;

/// <summary>
/// A step definition. Either a Cucumber Expression (<c>[Given("the SPTE at gfn {int}")]</c>) or,
/// as a separate property so nothing is guessed, an explicit regex (<c>[Given(Regex = "^...$")]</c>).
/// The feature generator binds every step at build time.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public abstract class StepDefinitionAttribute : Attribute
{
    protected StepDefinitionAttribute()
    {
    }

    protected StepDefinitionAttribute(string expression) => Expression = expression;

    public string? Expression { get; }

    public string? Regex { get; init; }
}

[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class GivenAttribute : StepDefinitionAttribute
{
    public GivenAttribute()
    {
    }

    public GivenAttribute(string expression)
        : base(expression)
    {
    }
}

[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class WhenAttribute : StepDefinitionAttribute
{
    public WhenAttribute()
    {
    }

    public WhenAttribute(string expression)
        : base(expression)
    {
    }
}

[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class ThenAttribute : StepDefinitionAttribute
{
    public ThenAttribute()
    {
    }

    public ThenAttribute(string expression)
        : base(expression)
    {
    }
}

/// <summary>
/// Registers a custom parameter type for Cucumber Expressions: put it on a static method that
/// converts the matched text, e.g. <c>[ParameterType("gfn", "0x[0-9a-fA-F]+")] static Gfn Parse(string s)</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ParameterTypeAttribute(string name, string regex) : Attribute
{
    public string Name { get; } = name;

    public string Regex { get; } = regex;
}

/// <summary>Runs before each scenario; with tags, only before scenarios that carry one of them.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BeforeScenarioAttribute(params string[] tags) : Attribute
{
    public string[] Tags { get; } = tags;

    public int Order { get; init; }
}

/// <summary>Runs after each scenario, whether it passed or not; with tags, only after scenarios that carry one.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class AfterScenarioAttribute(params string[] tags) : Attribute
{
    public string[] Tags { get; } = tags;

    public int Order { get; init; }
}
