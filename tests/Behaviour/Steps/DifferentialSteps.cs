using SpecKit.Features;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// The end of a <c>@kvm</c> scenario's kernel test: its differential report is checked as the
/// scenario's <c>differential</c> snapshot, a host declaration that no step needed fails the
/// scenario (it would hide nothing, and say something false about the host), and the model of
/// this host keeps the checker's rules as the model does.
/// </summary>
[Binding]
public sealed class DifferentialSteps(VmWorld world, ScenarioContext context)
{
    [AfterScenario]
    public void DifferentialReport()
    {
        if (!world.OnKernel || world.Current is null)
        {
            return;
        }

        context.Verify(world.Differential.Report(), "differential");
        var unused = world.Declarations.Except(world.Differential.Used).Select(d => "@" + d.Tag).ToList();
        Assert.True(unused.Count == 0, $"{string.Join(", ", unused)} is declared, but no step's kernel result differed from the model's: the declaration says something this scenario does not show");
        foreach (var backend in world.Backends.Skip(1).Where(b => b.Model is not null))
        {
            backend.Model!.CheckInvariants("the scenario");
            Assert.True(backend.Model.Violations.Count == 0, $"the {backend.Name} broke the checker's rules: {string.Join("; ", backend.Model.Violations)}");
        }
    }
}
