using System.Reflection;
using SpecKit.Features;

namespace SpecKit.Behaviour;

/// <summary>The generated scenarios of this assembly that run on the model, as methods a test can invoke in its own process.</summary>
public static class GeneratedScenarios
{
    /// <summary>Every generated scenario test, in a fixed order, but the kernel backend's own (left to the kernel run).</summary>
    public static IReadOnlyList<(Type Type, MethodInfo Method)> OnTheModel { get; } =
        [.. typeof(GeneratedScenarios).Assembly.GetTypes()
            .Where(t => t.Namespace == "SpecKit.Features.Generated" && t.IsClass && !t.IsAbstract)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance)
                .Where(m => m.GetCustomAttribute<FactAttribute>() is { Skip: null } fact && fact is not BackendFactAttribute { Backend: "kernel" })
                .OrderBy(m => m.MetadataToken)
                .Select(m => (t, m)))];

    /// <summary>Runs one scenario; its failure, if it failed (a <see cref="ScenarioFailedException"/> under SPECKIT_MODEL is a verdict).</summary>
    public static Exception? Run((Type Type, MethodInfo Method) scenario)
    {
        try
        {
            scenario.Method.Invoke(Activator.CreateInstance(scenario.Type), null);
            return null;
        }
        catch (TargetInvocationException e)
        {
            return e.InnerException ?? e;
        }
    }

    public static string Name((Type Type, MethodInfo Method) scenario) => $"{scenario.Type.Name}.{scenario.Method.Name}";
}
