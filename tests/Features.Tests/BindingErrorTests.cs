using SpecKit.Tests.Features.Support;
using SpecKit.Testing;

namespace SpecKit.Tests.Features;

/// <summary>Errors in the step definitions themselves are reported at the attribute in the .cs file.</summary>
public class BindingErrorTests
{
    private const string BadSteps = """
        using SpecKit.Features;

        namespace Bad.Steps;

        public static class Types
        {
            [ParameterType("gfn", "0x[0-9a-f]+")]
            public static ulong Gfn(string text) => 0;

            [ParameterType("gfn", "[0-9]+")]
            public static ulong GfnAgain(string text) => 0;

            [ParameterType("int", "[0-9]+")]
            public static int ShadowsBuiltIn(string text) => 0;

            [ParameterType("broken", "(unclosed")]
            public static int Broken(string text) => 0;

            [ParameterType("instance", "x")]
            public static int TwoArguments(string text, int other) => 0;

            [ParameterType("both_forms", @"\S+", Words = ["a"], WordsOf = typeof(Kind))]
            public static Kind BothForms(string text) => Kind.A;

            [ParameterType("no_words", @"\S+", WordsOf = typeof(NoWords))]
            public static string NoWordsAtAll(string text) => text;

            [ParameterType("unmatched_word", "[a-z]+", Words = ["on", "OFF"])]
            public static bool Unmatched(string text) => text == "on";

            [ParameterType("not_integer", @"\S+", Integer = true)]
            public static string NotInteger(string text) => text;

            [ParameterType("inverted", "[0-9]+", Min = 10, Max = 5)]
            public static int Inverted(string text) => 0;
        }

        public enum Kind
        {
            A,
        }

        public static class NoWords
        {
            public static readonly string NotConst = "x";
        }

        [Binding]
        public sealed class Steps
        {
            [Given("a {pfn} that nobody registered")]
            public void UnknownType(ulong pfn)
            {
            }

            [Given("an unclosed {int")]
            public void Unclosed(int value)
            {
            }

            [Given("both", Regex = "^both$")]
            public void Both()
            {
            }

            [Given("hidden")]
            private void Hidden()
            {
            }
        }

        public sealed class NoBindingAttribute
        {
            [Given("a step in a class without [Binding]")]
            public void Orphan()
            {
            }
        }
        """;

    [Fact]
    public void Each_broken_definition_is_reported_at_its_attribute()
    {
        var (result, _) = FeatureDriver.Run([], BadSteps);
        Assert.Null(result.Exception);
        var ids = result.Diagnostics.Select(d => d.Id).ToHashSet();
        Assert.Contains("FEAT010", ids);
        Assert.Contains("FEAT011", ids);
        Assert.Contains("FEAT012", ids);
        Assert.All(result.Diagnostics, d => Assert.Equal("Steps0.cs", d.Location.GetLineSpan().Path));
        Snapshot.Verify(Path.Combine(RepoPaths.Root, "tests", "Features.Tests", "Snapshots"), "binding-errors", FeatureDriver.Render(result.Diagnostics));
    }
}
