using System.Text;
using System.Text.RegularExpressions;
using SpecKit.Generators.Features.Binding;

namespace SpecKit.Tests.Features;

/// <summary>
/// The binder's step index: the literal text it reads out of a pattern, and the one property
/// the binder relies on, that a pattern whose regex matches a text is always among the text's
/// candidates (so undefined and ambiguous steps are reported exactly as trying every pattern
/// would report them).
/// </summary>
public sealed class StepIndexTests
{
    [Theory]
    [InlineData(@"^a VM with (-?\d+) vCPU(?:s)?$", "a VM with ", " vCPU")]
    [InlineData(@"^vCPUs?$", "vCPU", "")]
    [InlineData(@"^vCPU (\d+) writes gfn (0x[0-9a-f]+|\d+)$", "vCPU ", " writes gfn ")]
    [InlineData(@"^(?:the|a) slot (?:is|was) made$", "", " slot | made")]
    [InlineData(@"^x\.y [a-z]+ z{2}w$", "x.y ", " ")]
    [InlineData(@"^a[]b]c\(d\)$", "a", "c(d)")]
    [InlineData(@"^ab\d+cd$", "ab", "")]
    [InlineData(@"^a.b*c+?d$", "a", "d")]
    public void Reads_the_lead_and_the_runs_outside_groups(string regex, string lead, string runs)
    {
        var literals = LiteralText.Of(regex);
        Assert.Equal(lead, literals.Lead);
        Assert.Equal(runs, string.Join("|", literals.Runs));
    }

    [Theory]
    [InlineData("^a|b$")]
    [InlineData("^(?i)abc$")]
    [InlineData("^(?x)a b$")]
    [InlineData("^(?#comment)abc$")]
    [InlineData("^[a-z-[aeiou]]x$")]
    [InlineData("abc$")]
    [InlineData("^(?:abc$")]
    public void Requires_nothing_where_the_literal_text_is_not_certain(string regex)
    {
        var literals = LiteralText.Of(regex);
        Assert.Equal("", literals.Lead);
        Assert.Empty(literals.Runs);
    }

    /// <summary>
    /// Random regexes over a two-letter alphabet (so that matches are common) against every text
    /// of up to six letters: each match must be a candidate, and the candidates come in order.
    /// </summary>
    [Fact]
    public void Every_pattern_that_matches_a_text_is_a_candidate_for_it()
    {
        var texts = new List<string> { "" };
        for (var length = 1; length <= 6; length++)
        {
            texts.AddRange(texts.Where(t => t.Length == length - 1).SelectMany(t => new[] { t + "a", t + "b" }).ToList());
        }

        texts.AddRange(["a b", "ab ba", " a", "a.b", "a(b)", "a\nb", "b\n"]);
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var regexes = new List<string>();
            while (regexes.Count < 20)
            {
                var regex = (random.Next(4) == 0 ? "" : "^") + Sequence(random, 3) + (random.Next(3) == 0 ? "" : "$");
                if (IsValid(regex))
                {
                    regexes.Add(regex);
                }
            }

            var index = new StepIndex(regexes);
            foreach (var text in texts)
            {
                var candidates = index.Candidates(text);
                Assert.Equal(candidates.Order(), candidates);
                for (var i = 0; i < regexes.Count; i++)
                {
                    if (Regex.IsMatch(text, regexes[i], RegexOptions.CultureInvariant))
                    {
                        Assert.True(candidates.Contains(i), $"seed {seed}: /{regexes[i]}/ matches '{text}' but is not a candidate (lead '{LiteralText.Of(regexes[i]).Lead}', runs '{string.Join("|", LiteralText.Of(regexes[i]).Runs)}')");
                    }
                }
            }
        }
    }

    private static readonly string[] Atoms = ["a", "b", " ", "ab", "\\.", "\\(", ".", "[ab]", "[^a]", "\\d", "\\w", "\\s", "\\b"];

    private static readonly string[] Quantifiers = ["", "", "", "?", "*", "+", "??", "{2}", "{1,2}", "{0}"];

    private static string Sequence(Random random, int depth)
    {
        var text = new StringBuilder();
        var items = random.Next(1, 5);
        for (var i = 0; i < items; i++)
        {
            text.Append(random.Next(6) == 0 && depth > 0
                ? Group(random, depth - 1)
                : Atoms[random.Next(Atoms.Length)]);
            text.Append(Quantifiers[random.Next(Quantifiers.Length)]);
            if (random.Next(12) == 0)
            {
                text.Append(random.Next(2) == 0 ? "|" : "$");
            }
        }

        return text.ToString();
    }

    private static string Group(Random random, int depth)
    {
        var open = new[] { "(", "(?:", "(?<n>", "(?=", "(?!", "(?i:", "(?i)" }[random.Next(7)];
        if (open == "(?i)")
        {
            return open;
        }

        var alternatives = Enumerable.Range(0, random.Next(1, 3)).Select(_ => Sequence(random, depth));
        return open + string.Join("|", alternatives) + ")";
    }

    private static bool IsValid(string regex)
    {
        try
        {
            _ = new Regex(regex);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
