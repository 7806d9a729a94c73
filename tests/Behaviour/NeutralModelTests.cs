using System.Reflection;
using SpecKit.Behaviour.Steps;
using SpecKit.Features;
using SpecKit.Mmu;

namespace SpecKit.Behaviour;

/// <summary>
/// SPECKIT_MODEL's verdict is about the model, never about its name: every generated scenario,
/// run in this process as SPECKIT_MODEL would run it under a model that is the base under
/// another (longer) name, comes out the same. A scenario that differed here would differ under
/// any variant whatever, and tell a reviewer (or <c>speckit mutate</c>, which counts a
/// <c>differs</c> as a kill) that a patch changed something it did not.
/// </summary>
[Trait("Category", "report")]
public class NeutralModelTests
{
    /// <summary>Longer than "base", so a table or a line that pads to the model's name would show it.</summary>
    private const string Neutral = "TheBaseModelUnderAnotherName";

    [Fact]
    public void Under_a_model_identical_to_the_base_no_scenario_differs()
    {
        var @base = SpecModels.Named(ModelSwitch.BaseModel);
        var neutral = @base with { Name = Neutral, Rules = @base.Rules with { Model = Neutral } };
        var scenarios = Scenarios().ToList();
        Assert.True(scenarios.Count > 100, $"only {scenarios.Count} generated scenarios found");

        var differs = new List<string>();
        using (ModelLookup.Listing(neutral))
        using (ModelSwitch.Use(Neutral))
        {
            foreach (var (type, method) in scenarios)
            {
                try
                {
                    method.Invoke(Activator.CreateInstance(type), null);
                }
                catch (TargetInvocationException e)
                {
                    differs.Add($"{type.Name}.{method.Name}: {e.InnerException?.Message.Split('\n')[0]}");
                }
            }
        }

        Assert.True(differs.Count == 0, $"{differs.Count} of {scenarios.Count} scenarios differ under the base model renamed:\n{string.Join("\n", differs)}");
    }

    /// <summary>The generated scenarios that run on the model (the kernel backend's own are left to the kernel run).</summary>
    private static IEnumerable<(Type Type, MethodInfo Method)> Scenarios() =>
        typeof(NeutralModelTests).Assembly.GetTypes()
            .Where(t => t.Namespace == "SpecKit.Features.Generated" && t.IsClass && !t.IsAbstract)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance)
                .Where(m => m.GetCustomAttribute<FactAttribute>() is { Skip: null } fact && fact is not BackendFactAttribute { Backend: "kernel" })
                .Select(m => (t, m)));
}
