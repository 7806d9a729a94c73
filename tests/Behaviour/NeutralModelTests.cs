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
        var scenarios = GeneratedScenarios.OnTheModel;
        Assert.True(scenarios.Count > 100, $"only {scenarios.Count} generated scenarios found");

        var differs = new List<string>();
        using (ModelLookup.Listing(neutral))
        using (ModelSwitch.Use(Neutral))
        {
            foreach (var scenario in scenarios)
            {
                if (GeneratedScenarios.Run(scenario) is { } failure)
                {
                    differs.Add($"{GeneratedScenarios.Name(scenario)}: {failure.Message.Split('\n')[0]}");
                }
            }
        }

        Assert.True(differs.Count == 0, $"{differs.Count} of {scenarios.Count} scenarios differ under the base model renamed:\n{string.Join("\n", differs)}");
    }
}
