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
/// <remarks>
/// The regex says what a step captures; what the type accepts is checked at build time, so a
/// wrong argument is a compile error at the step naming the type and its form, never an
/// exception from the method at run time. Give <see cref="Words"/> or <see cref="WordsOf"/>
/// for a closed set of words (on/off, model names), <see cref="Integer"/> (with
/// <see cref="Min"/> and <see cref="Max"/>) for a number, and <see cref="Description"/> to say
/// in messages and docs/steps.md what it is. A capture that is broader than the accepted form
/// (<c>\S+</c> for on/off) is what turns a typo into "'of' is not {on_off}: write on or off"
/// rather than an undefined step.
/// </remarks>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ParameterTypeAttribute(string name, string regex) : Attribute
{
    public string Name { get; } = name;

    public string Regex { get; } = regex;

    /// <summary>The only words the type accepts, exactly as written (case matters).</summary>
    public string[]? Words { get; init; }

    /// <summary>A type whose members are the words: an enum's member names, or the values of a class's public const strings.</summary>
    public Type? WordsOf { get; init; }

    /// <summary>The text is an integer, decimal or 0x hex ('_' may group digits), that fits the method's return type.</summary>
    public bool Integer { get; init; }

    /// <summary>With <see cref="Integer"/>: the smallest value accepted.</summary>
    public long Min { get; init; }

    /// <summary>With <see cref="Integer"/>: the largest value accepted.</summary>
    public ulong Max { get; init; }

    /// <summary>What a value of the type is, for messages and the step library: "a guest frame number".</summary>
    public string? Description { get; init; }
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
