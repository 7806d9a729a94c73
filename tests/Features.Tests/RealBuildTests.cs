using SpecKit.Generators.Features;
using SpecKit.Testing.Generators;

namespace SpecKit.Tests.Features;

/// <summary>
/// The feature generator in a real <c>dotnet build</c>: a feature with an undefined step fails
/// the build, and the error names the .feature file and line, with a paste-ready definition.
/// The same build holds the traps only a real compiler sets: a file that is not UTF-8 (the
/// compiler decodes it with U+FFFD), and two files whose names give one generated file name
/// (which crashed the generator with CS8785). (The behaviour suite in tests/Behaviour is the
/// real build that passes.)
/// </summary>
[Trait("Category", "build")]
public class RealBuildTests
{
    [Fact]
    public async Task An_undefined_step_fails_the_build_at_the_feature_line()
    {
        var dir = DotnetCli.ScratchProject("speckit-features-");
        Directory.CreateDirectory(Path.Combine(dir, "features"));
        try
        {
            File.WriteAllText(Path.Combine(dir, "Probe.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <Analyzer Include="{typeof(FeatureGenerator).Assembly.Location}" />
                    <Analyzer Include="{typeof(global::Gherkin.Parser).Assembly.Location}" />
                    <Analyzer Include="{typeof(Io.Cucumber.Messages.Types.Envelope).Assembly.Location}" />
                    <Analyzer Include="{typeof(CucumberExpressions.CucumberExpression).Assembly.Location}" />
                    <Reference Include="{typeof(SpecKit.Features.GivenAttribute).Assembly.Location}" />
                    <Reference Include="{typeof(SpecKit.Testing.Snapshot).Assembly.Location}" />
                    <AdditionalFiles Include="features/**/*.feature" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir, "Steps.cs"), """
                using SpecKit.Features;

                [Binding]
                public sealed class Steps
                {
                    [Given("a VM with {int} vCPU(s)")]
                    public void AVm(int vcpus)
                    {
                    }
                }
                """);
            File.WriteAllText(Path.Combine(dir, "features", "broken.feature"), """
                Feature: Broken
                  Scenario: A step nobody defined
                    Given a VM with 2 vCPUs
                    When the guest writes gfn 0x10
                """);

            File.WriteAllBytes(Path.Combine(dir, "features", "latin1.feature"), [.. "Feature: Caf"u8, 0xe9, .. "\n  Scenario: One\n    Given a VM with 1 vCPU\n"u8]);
            File.WriteAllText(Path.Combine(dir, "features", "a-b.feature"), "Feature: One\n  Scenario: One\n    Given a VM with 1 vCPU\n");
            File.WriteAllText(Path.Combine(dir, "features", "a_b.feature"), "Feature: Two\n  Scenario: Two\n    Given a VM with 1 vCPU\n");

            var (exit, output) = await DotnetCli.RunAsync(dir, "build");

            Assert.True(exit != 0, output);
            var feature = Path.Combine(dir, "features", "broken.feature");
            Assert.True(
                output.Contains($"{feature}(4,5): error FEAT001: Undefined step: When the guest writes gfn 0x10. Add a step definition: [When(@\"the guest writes gfn {{int}}\")] public void TheGuestWritesGfn(int p0)", StringComparison.Ordinal),
                output);
            Assert.True(output.Contains($"{Path.Combine(dir, "features", "latin1.feature")}(1,13): error FEAT017:", StringComparison.Ordinal), output);
            Assert.True(output.Contains($"{Path.Combine(dir, "features", "a-b.feature")}(1,1): error FEAT014: features/a-b.feature and features/a_b.feature both become the test class AB_Feature", StringComparison.Ordinal), output);
            Assert.True(output.Contains($"{Path.Combine(dir, "features", "a_b.feature")}(1,1): error FEAT014: features/a_b.feature and features/a-b.feature", StringComparison.Ordinal), output);
            Assert.DoesNotContain("CS8785", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
