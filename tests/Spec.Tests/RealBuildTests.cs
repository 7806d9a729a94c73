using SpecKit.Generators.Spec;
using SpecKit.Testing.Generators;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The generator in a real <c>dotnet build</c>, not only under the in-memory driver: it loads
/// as an analyzer, its types compile into a program that uses them, and a malformed spec fails
/// the build with the spec file, line and column in the compiler's own error format.
/// </summary>
[Trait("Category", "build")]
public class RealBuildTests
{
    private static string CreateProject(string specText, string program)
    {
        var dir = DotnetCli.ScratchProject("speckit-build-");
        Directory.CreateDirectory(Path.Combine(dir, "spec"));
        File.WriteAllText(Path.Combine(dir, "spec", "probe.layout"), specText);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        File.WriteAllText(Path.Combine(dir, "Probe.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <Analyzer Include="{typeof(SpecGenerator).Assembly.Location}" />
                <AdditionalFiles Include="spec/**/*.layout" />
              </ItemGroup>
            </Project>
            """);
        return dir;
    }

    private const string GoodSpec = """
        Layout ProbeSpte "a probe entry"
          Field    0      Present     "test"
          Field    51:12  Pfn         "test"
          Ignored  11:1               "test"
          Ignored  63:52              "test"
        EndLayout
        """;

    [Fact]
    public async Task The_generator_loads_in_a_real_build_and_its_types_run()
    {
        var dir = CreateProject(GoodSpec, """
            var spte = new SpecKit.Mmu.ProbeSpte(0).WithPresent(true).WithPfn(0x1234);
            System.Console.WriteLine(spte);
            return spte.Raw == 0x1234001UL ? 0 : 1;
            """);
        try
        {
            var (exit, output) = await DotnetCli.RunAsync(dir, "run");
            Assert.True(exit == 0, output);
            Assert.Contains("ProbeSpte(0x0000000001234001: Present Pfn=0x1234)", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_malformed_spec_fails_the_build_at_its_file_line_and_column()
    {
        var bad = GoodSpec.Replace("Field    51:12  Pfn", "Field    51:11  Pfn", StringComparison.Ordinal);
        var dir = CreateProject(bad, "return 0;");
        try
        {
            // Only a real compiler decodes a file that is not UTF-8 (to U+FFFD, silently), and
            // compares generated file names ignoring case (two such layouts crashed the generator).
            File.WriteAllBytes(Path.Combine(dir, "spec", "latin1.layout"), [.. "Layout Latin1 \"caf"u8, 0xe9, .. "\"\n  Ignored 63:0 \"t\"\nEndLayout\n"u8]);
            File.WriteAllText(Path.Combine(dir, "spec", "case.layout"), "Layout Probespte \"t\"\n  Ignored 63:0 \"t\"\nEndLayout\n");

            var (exit, output) = await DotnetCli.RunAsync(dir, "build");
            Assert.True(exit != 0, output);
            var specPath = Path.Combine(dir, "spec", "probe.layout");
            Assert.True(output.Contains($"{specPath}(4,12): error SPEC006: ProbeSpte.Ignored 11:1 (bits 11:1) overlaps ProbeSpte.Pfn (bits 51:11)", StringComparison.Ordinal), output);
            Assert.True(output.Contains($"{Path.Combine(dir, "spec", "latin1.layout")}(1,19): error SPEC025:", StringComparison.Ordinal), output);
            Assert.True(output.Contains("error SPEC008: Generated type ProbeSpte (its file name differs from Probespte's only in case)", StringComparison.Ordinal), output);
            Assert.DoesNotContain("CS8785", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
