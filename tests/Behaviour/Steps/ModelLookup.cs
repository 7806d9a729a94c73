using SpecKit.Features;
using SpecKit.Mmu;

namespace SpecKit.Behaviour.Steps;

/// <summary>The model a step runs, through <see cref="ModelSwitch"/>: the one the scenario names, or under SPECKIT_MODEL the requested one in the base's place.</summary>
public static class ModelLookup
{
    /// <summary>
    /// The model to run for <paramref name="model"/> as the scenario writes it. Under
    /// SPECKIT_MODEL=M the base's place is taken by M's rules, layouts and values under the name
    /// the scenario wrote (<c>base</c>), so that what a step prints (a comparison table's
    /// columns, a title) differs from the base's snapshot only where M behaves differently, never
    /// by M's name or its length. The summary and the failure say which model ran.
    /// </summary>
    public static SpecModelInfo Info(this ModelSwitch models, string model)
    {
        var name = models.Resolve(model);
        var info = Named(name);
        return name == model ? info : AsNamed(info, model);
    }

    /// <summary>The models a step that checks "every model" checks (<see cref="ModelSwitch.Every"/>).</summary>
    public static IEnumerable<SpecModelInfo> Every(this ModelSwitch models)
    {
        var names = SpecModels.All.Select(m => m.Name).ToList();
        var every = models.Every(names);
        return ReferenceEquals(every, names) ? SpecModels.All : every.Select(name => AsNamed(Named(name), ModelSwitch.BaseModel));
    }

    private static readonly AsyncLocal<SpecModelInfo?> Unlisted = new();

    /// <summary>
    /// Lets <paramref name="model"/>, which no spec generates, be asked for by name in this flow
    /// of control until disposed: how a test runs the suite under a model made in memory (the
    /// base under another name, which must change nothing).
    /// </summary>
    internal static IDisposable Listing(SpecModelInfo model)
    {
        var previous = Unlisted.Value;
        Unlisted.Value = model;
        return new Scope(() => Unlisted.Value = previous);
    }

    private static SpecModelInfo Named(string name) => Unlisted.Value is { } unlisted && unlisted.Name == name ? unlisted : SpecModels.Named(name);

    private static SpecModelInfo AsNamed(SpecModelInfo info, string name) =>
        info.Name == name ? info : info with { Name = name, Rules = info.Rules with { Model = name } };
}
