using SpecKit.Spec.Tests.Support;

namespace SpecKit.Spec.Tests;

/// <summary>
/// Traps that take two spec files to set, which the one-file-per-case BadSpecs corpus cannot
/// hold: each is a located diagnostic in the file that is wrong, never a generator failure.
/// </summary>
public class MultiFileSpecTests
{
    private static string Render(params SpecFile[] extra)
    {
        var result = SpecDriver.Run(SpecDriver.RealSpec().Concat(extra));
        Assert.Null(result.Exception);
        Assert.DoesNotContain(result.Diagnostics, d => d.Id == "SPEC099");
        return SpecDriver.Render(result.Diagnostics);
    }

    [Fact]
    public void Two_variants_whose_names_differ_only_in_case_are_a_diagnostic_not_a_generator_failure()
    {
        var text = Render(
            new SpecFile("spec/variants/a.layout", "Variant Probe \"one\"\nConstants SpteValues \"t\"\n  Value SHADOW_NONPRESENT_VALUE = 0 \"t\"\nEndConstants\n"),
            new SpecFile("spec/variants/b.layout", "Variant PROBE \"two\"\nConstants SpteValues \"t\"\n  Value SHADOW_NONPRESENT_VALUE = 0 \"t\"\nEndConstants\n"));
        Assert.Equal(
            "spec/variants/b.layout(1,9): error SPEC008: Variant PROBE (its file name differs from Probe's only in case) is declared twice (first at spec/variants/a.layout:1:9)",
            text);
    }

    [Fact]
    public void Two_files_of_one_variant_must_agree_on_its_title()
    {
        var text = Render(
            new SpecFile("spec/variants/a.layout", "Variant Probe \"one\"\nConstants SpteValues \"t\"\n  Value SHADOW_NONPRESENT_VALUE = 0 \"t\"\nEndConstants\n"),
            new SpecFile("spec/variants/b.policy", "Variant Probe \"two\"\nOperation ZapLeafs \"t\"\n  Flush Always \"t\"\nEndOperation\n"));
        Assert.Equal(
            "spec/variants/b.policy(1,9): error SPEC008: Variant Probe with another title (\"two\") is declared twice (first at spec/variants/a.layout:1:9)",
            text);
    }

    [Fact]
    public void A_pasted_no_break_space_separates_words_like_a_space()
    {
        Assert.Equal("", Render(new SpecFile("spec/layouts/probe.layout", "Layout\u00a0Probe \"t\"\n  Field\u00a00\u2009Present \"t\"\n  Ignored 63:1 \"t\"\nEndLayout\n")));
    }
}
