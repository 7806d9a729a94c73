using System;
using System.Collections.Generic;
using System.Linq;

namespace SpecKit.Generators.Features.Binding;

/// <summary>
/// A parameter type the binder knows: built-in, or registered in code with
/// <c>[ParameterType("gfn", "regex")]</c> on a static conversion method.
/// A capture matches any one of <see cref="Regexes"/>.
/// </summary>
/// <param name="Converter">
/// Null for built-ins (<see cref="ArgumentConverter"/> turns their captures into literals);
/// for custom types the fully-qualified static method the generated code calls at run time,
/// e.g. <c>global::SpecKit.Steps.Gfns.Parse</c>.
/// </param>
internal sealed record ParameterType(string Name, EquatableArray<string> Regexes, string? Converter);

/// <summary>The parameter types of Cucumber Expressions, as far as SpecKit needs them.</summary>
internal static class BuiltInParameterTypes
{
    // Hex comes first: with "-?\d+" first, "0x1f" would match "0" and only backtracking
    // would save it. KVM users write GFNs and PFNs in hex, sometimes grouped with '_'
    // like C# (0x1_0000_0000); a minus sign is only for decimal, as nobody writes -0x10.
    private const string Hex = @"0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*";
    private const string Decimal = @"-?\d+";

    // Simpler than Cucumber's float regex, whose look-ahead "(?=.*\d.*)" peeks past the
    // parameter into the rest of the step; this one needs a digit inside the number itself.
    private const string Float = @"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?";

    // Quotes are part of the capture (the groups here become non-capturing when compiled);
    // ArgumentConverter strips them and unescapes \" \' \\.
    private const string DoubleQuoted = @"""([^""\\]*(\\.[^""\\]*)*)""";
    private const string SingleQuoted = @"'([^'\\]*(\\.[^'\\]*)*)'";

    public static IReadOnlyList<ParameterType> All { get; } =
    [
        Make("int", Hex, Decimal),
        Make("long", Hex, Decimal),
        Make("byte", Hex, Decimal),
        Make("short", Hex, Decimal),
        Make("float", Float),
        Make("double", Float),
        Make("word", @"[^\s]+"),
        Make("string", DoubleQuoted, SingleQuoted),
        Make("", ".*"), // the anonymous {}
    ];

    /// <summary>
    /// The built-ins plus custom types, by name. The caller reports a name given twice (or a
    /// built-in's name reused), so here the last one simply wins.
    /// </summary>
    public static IReadOnlyDictionary<string, ParameterType> WithCustom(IEnumerable<ParameterType> custom)
    {
        var byName = new Dictionary<string, ParameterType>(StringComparer.Ordinal);
        foreach (var type in All.Concat(custom))
        {
            byName[type.Name] = type;
        }

        return byName;
    }

    private static ParameterType Make(string name, params string[] regexes) => new(name, regexes.ToEquatableArray(), null);
}
