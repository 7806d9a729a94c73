using System.Reflection;

namespace SpecKit.Mmu;

/// <summary>
/// The models generated from spec/: the base and one per variant, each in its own namespace.
/// Lets a scenario name a model ("base", "RemovedSpte") and read its layouts and constants
/// side by side, without the step code knowing each variant's types.
/// </summary>
public static class SpecModels
{
    private static readonly Lazy<Dictionary<string, string>> Namespaces = new(() =>
        typeof(SpecModels).Assembly.GetTypes()
            .Where(t => t.Name == "SpecModel" && t.IsAbstract && t.IsSealed)
            .ToDictionary(t => (string)t.GetField("Name")!.GetRawConstantValue()!, t => t.Namespace!, StringComparer.Ordinal));

    public static IReadOnlyCollection<string> Names => Namespaces.Value.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>The generated type <paramref name="name"/> (a layout, constants block or walker) of a model.</summary>
    public static Type Type(string model, string name)
    {
        if (!Namespaces.Value.TryGetValue(model, out var ns))
        {
            throw new ArgumentException($"no model '{model}'; the models are {string.Join(", ", Names)}", nameof(model));
        }

        return typeof(SpecModels).Assembly.GetType($"{ns}.{name}")
            ?? throw new ArgumentException($"model '{model}' has no type {name}", nameof(name));
    }

    /// <summary>A <c>const</c> of a generated type: a field's <c>...Mask</c>, or a named value.</summary>
    public static ulong Constant(string model, string type, string constant)
    {
        var field = Type(model, type).GetField(constant, BindingFlags.Public | BindingFlags.Static)
            ?? throw new ArgumentException($"{type} in model '{model}' has no constant {constant}", nameof(constant));
        return Convert.ToUInt64(field.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The MMU policy a model's spec declares, to run a <see cref="Kvm.Kvm"/> under.</summary>
    public static Policy.MmuRules Rules(string model) =>
        (Policy.MmuRules)Type(model, "MmuPolicy").GetField("Rules", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
}
