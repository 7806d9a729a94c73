using System.Globalization;
using System.Text.RegularExpressions;
using SpecKit.Generators;
using SpecKit.Generators.Features.Binding;

namespace SpecKit.Tests.Features;

/// <summary>
/// Cucumber Expressions compiled to regexes: each case compiles an expression, then checks
/// what the regex matches and captures, since that, not the regex's spelling, is the contract.
/// </summary>
public sealed class CucumberExpressionTests
{
    private static readonly IReadOnlyDictionary<string, ParameterType> BuiltIns = BuiltInParameterTypes.WithCustom([]);

    private static CompiledStepPattern Compile(string expression, IReadOnlyDictionary<string, ParameterType>? types = null)
    {
        var ok = CucumberExpression.TryCompile(expression, types ?? BuiltIns, out var pattern, out var error);
        Assert.True(ok, error);
        Assert.Null(error);
        return pattern!;
    }

    private static string CompileError(string expression, IReadOnlyDictionary<string, ParameterType>? types = null)
    {
        Assert.False(CucumberExpression.TryCompile(expression, types ?? BuiltIns, out var pattern, out var error));
        Assert.Null(pattern);
        return error!;
    }

    /// <summary>The captures of <paramref name="text"/>, or null if the pattern does not match it.</summary>
    private static string[]? Captures(CompiledStepPattern pattern, string text)
    {
        var match = Regex.Match(text, pattern.Regex);
        return match.Success
            ? Enumerable.Range(1, match.Groups.Count - 1).Select(i => match.Groups[i].Value).ToArray()
            : null;
    }

    /// <summary>The captures of <paramref name="text"/>, which the pattern must match.</summary>
    private static string[] Matched(CompiledStepPattern pattern, string text) =>
        Captures(pattern, text) ?? throw new Xunit.Sdk.XunitException($"'{text}' does not match {pattern.Regex}");

    private static ParameterType Custom(string name, string converter, params string[] regexes) =>
        new(name, regexes.ToEquatableArray(), converter);

    [Theory]
    [InlineData("{int}", "42", "42")]
    [InlineData("{int}", "-42", "-42")]
    [InlineData("{int}", "0x1f", "0x1f")]
    [InlineData("{int}", "0X1F", "0X1F")]
    [InlineData("{int}", "0x1_0000_0000", "0x1_0000_0000")]
    [InlineData("{long}", "9223372036854775807", "9223372036854775807")]
    [InlineData("{long}", "0xdeadbeef", "0xdeadbeef")]
    [InlineData("{byte}", "255", "255")]
    [InlineData("{byte}", "0xff", "0xff")]
    [InlineData("{short}", "-7", "-7")]
    [InlineData("{short}", "0x7fff", "0x7fff")]
    [InlineData("{float}", "1.5", "1.5")]
    [InlineData("{float}", "-.5", "-.5")]
    [InlineData("{double}", "+2.5e-3", "+2.5e-3")]
    [InlineData("{double}", "7", "7")]
    [InlineData("{word}", "present", "present")]
    [InlineData("{word}", "4K-page", "4K-page")]
    [InlineData("{string}", "\"a b\"", "\"a b\"")]
    [InlineData("{string}", "'a b'", "'a b'")]
    [InlineData("{string}", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"")]
    [InlineData("{string}", "\"\"", "\"\"")]
    [InlineData("{}", "anything at all", "anything at all")]
    [InlineData("{}", "", "")]
    public void Built_in_type_captures(string parameter, string value, string captured)
    {
        var pattern = Compile($"the value is {parameter}");

        Assert.Equal(new[] { captured }, Matched(pattern, $"the value is {value}"));
        Assert.Equal(new[] { parameter.Trim('{', '}') }, pattern.ParameterTypeNames);
    }

    [Theory]
    [InlineData("{int}", "4.5")]
    [InlineData("{int}", "0x")]
    [InlineData("{int}", "-0x10")]
    [InlineData("{int}", "0xg")]
    [InlineData("{int}", "ten")]
    [InlineData("{long}", "1e3")]
    [InlineData("{float}", ".")]
    [InlineData("{float}", "1.")]
    [InlineData("{double}", "e5")]
    [InlineData("{word}", "two words")]
    [InlineData("{string}", "unquoted")]
    [InlineData("{string}", "\"unbalanced'")]
    public void Built_in_type_rejects(string parameter, string value)
    {
        Assert.Null(Captures(Compile($"the value is {parameter}"), $"the value is {value}"));
    }

    [Fact]
    public void All_built_ins_are_there_without_converters()
    {
        Assert.Equal(
            ["int", "long", "byte", "short", "float", "double", "word", "string", ""],
            BuiltInParameterTypes.All.Select(t => t.Name));
        Assert.All(BuiltInParameterTypes.All, t => Assert.Null(t.Converter));
    }

    [Fact]
    public void Several_parameters_capture_in_order()
    {
        var pattern = Compile("vcpu {int} maps gfn {long} as {word} with {string}");

        Assert.Equal(["int", "long", "word", "string"], pattern.ParameterTypeNames);
        Assert.Equal(["0", "0x1234", "rwx", "'wb'"], Matched(pattern, "vcpu 0 maps gfn 0x1234 as rwx with 'wb'"));
        Assert.Null(Captures(pattern, "vcpu 0 maps gfn 0x1234 as rwx with 'wb' and more"));
        Assert.Null(Captures(pattern, "also vcpu 0 maps gfn 0x1234 as rwx with 'wb'"));
    }

    [Fact]
    public void Literal_text_is_matched_literally()
    {
        var pattern = Compile("costs $5.00 + tax? [yes] ^ * | 100%");

        Assert.Empty(Captures(pattern, "costs $5.00 + tax? [yes] ^ * | 100%")!);
        Assert.Null(Captures(pattern, "costs $5x00 + tax? [yes] ^ * | 100%"));
    }

    [Theory]
    [InlineData("I have {int} cucumber(s)", "I have 1 cucumber", true)]
    [InlineData("I have {int} cucumber(s)", "I have 2 cucumbers", true)]
    [InlineData("I have {int} cucumber(s)", "I have 2 cucumberss", false)]
    [InlineData("(the )page is mapped", "page is mapped", true)]
    [InlineData("(the )page is mapped", "the page is mapped", true)]
    [InlineData("the (huge) page", "the  page", true)]
    [InlineData("the (huge) page", "the huge page", true)]
    [InlineData("the (\\(huge\\)) page", "the (huge) page", true)]
    [InlineData("the (.*) page", "the .* page", true)]
    [InlineData("the (.*) page", "the big page", false)]
    public void Optional_text(string expression, string text, bool matches)
    {
        Assert.Equal(matches, Captures(Compile(expression), text) is not null);
    }

    [Theory]
    [InlineData("the page is mapped/unmapped", "the page is mapped", true)]
    [InlineData("the page is mapped/unmapped", "the page is unmapped", true)]
    [InlineData("the page is mapped/unmapped", "the page is mapped/unmapped", false)]
    [InlineData("the page is mapped/unmapped", "the page is remapped", false)]
    [InlineData("read/write/execute access", "write access", true)]
    [InlineData("read/write/execute access", "execute access", true)]
    [InlineData("read/write/execute access", "read/write access", false)]
    [InlineData("a cucumber(s)/gherkin(s) here", "a cucumbers here", true)]
    [InlineData("a cucumber(s)/gherkin(s) here", "a gherkin here", true)]
    [InlineData("{int} 4K/2M/1G page(s)", "3 2M pages", true)]
    [InlineData("{int}KiB/MiB", "3MiB", true)]
    [InlineData("{int}KiB/MiB", "3KiB", true)]
    [InlineData("a/b{int}", "b7", true)]
    [InlineData("a/b{int}", "a7", true)]
    [InlineData("1\\/2 full", "1/2 full", true)]
    [InlineData("1\\/2 full", "1 full", false)]
    public void Alternation_is_between_the_words_of_one_whitespace_delimited_word(string expression, string text, bool matches)
    {
        Assert.Equal(matches, Captures(Compile(expression), text) is not null);
    }

    [Theory]
    [InlineData("\\(not optional\\)", "(not optional)")]
    [InlineData("\\{int\\}", "{int}")]
    [InlineData("either\\/or", "either/or")]
    [InlineData("back\\\\slash", "back\\slash")]
    [InlineData("one\\ word/two", "one word")]
    [InlineData("a lone ) and }", "a lone ) and }")]
    public void Escapes_and_lone_closers_are_text(string expression, string text)
    {
        var pattern = Compile(expression);

        Assert.Empty(pattern.ParameterTypeNames);
        Assert.NotNull(Captures(pattern, text));
    }

    [Fact]
    public void Escaped_whitespace_stays_in_its_word_for_alternation()
    {
        var pattern = Compile("one\\ word/two");

        Assert.NotNull(Captures(pattern, "two"));
        Assert.Null(Captures(pattern, "one two"));
    }

    [Fact]
    public void Custom_parameter_type_regex_groups_become_non_capturing()
    {
        var types = BuiltInParameterTypes.WithCustom(
        [
            Custom("gfn", "global::SpecKit.Steps.Gfns.Parse", "gfn (0x[0-9a-f]+|(\\d+))", "(?<named>g)(?'other'\\d)"),
            Custom("class", "global::X.Parse", "[(]x[)]|[]()]|[^]()]y|\\(z\\)|(?<=a)b|(?<!c)d|(?=e)e|(?!f)g|(?i:h)"),
        ]);

        var pattern = Compile("map {gfn} to {int} via {class}", types);

        Assert.Equal(["gfn", "int", "class"], pattern.ParameterTypeNames);
        Assert.Equal(4, new Regex(pattern.Regex).GetGroupNumbers().Length);
        Assert.Equal(["gfn 0x1f", "3", "(x)"], Matched(pattern, "map gfn 0x1f to 3 via (x)"));
        Assert.Equal(["gfn 12", "3", "(z)"], Matched(pattern, "map gfn 12 to 3 via (z)"));
        Assert.Equal(["g7", "0x3", "H"], Matched(pattern, "map g7 to 0x3 via H"));
        Assert.Equal(["g7", "3", ")"], Matched(pattern, "map g7 to 3 via )"));
        Assert.Equal(["g7", "3", "qy"], Matched(pattern, "map g7 to 3 via qy"));
    }

    [Theory]
    [InlineData("(a)", "(?:a)")]
    [InlineData("(?<n>a)", "(?:a)")]
    [InlineData("(?'n'a)", "(?:a)")]
    [InlineData("(?<a-n>a)", "(?:a)")]
    [InlineData("(?:a)", "(?:a)")]
    [InlineData("(?<=a)(?<!b)(?=c)(?!d)(?>e)(?i)", "(?<=a)(?<!b)(?=c)(?!d)(?>e)(?i)")]
    [InlineData("\\((a)\\)", "\\((?:a)\\)")]
    [InlineData("[(](a)[^)(]", "[(](?:a)[^)(]")]
    [InlineData("[]()](a)", "[]()](?:a)")]
    [InlineData("[^]()](a)", "[^]()](?:a)")]
    [InlineData("[\\]()](a)", "[\\]()](?:a)")]
    public void Non_capturing_rewrite(string regex, string rewritten)
    {
        Assert.Equal(rewritten, CucumberExpression.NonCapturing(regex));
    }

    [Fact]
    public void Inline_options_of_a_parameter_regex_stay_inside_it()
    {
        var types = BuiltInParameterTypes.WithCustom([Custom("shout", "global::X.Parse", "(?i)loud")]);

        var pattern = Compile("{shout} QUIET", types);

        Assert.NotNull(Captures(pattern, "LOUD QUIET"));
        Assert.Null(Captures(pattern, "LOUD quiet"));
    }

    [Fact]
    public void A_custom_type_may_replace_a_built_in_and_the_last_duplicate_wins()
    {
        var types = BuiltInParameterTypes.WithCustom(
        [
            Custom("int", "global::A.First", "one"),
            Custom("int", "global::A.Second", "two"),
        ]);

        Assert.Equal("global::A.Second", types["int"].Converter);
        Assert.NotNull(Captures(Compile("{int}", types), "two"));
        Assert.Null(Captures(Compile("{int}", types), "2"));
        Assert.Equal(BuiltInParameterTypes.All.Count, types.Count);
    }

    [Fact]
    public void Compiled_patterns_are_values()
    {
        Assert.Equal(Compile("a {int} b(s)/c"), Compile("a {int} b(s)/c"));
        Assert.NotEqual(Compile("a {int}"), Compile("a {long}"));
    }

    [Theory]
    [InlineData("the SPTE at gfn {gfn} is present", "unknown parameter type {gfn} at column 17: register it with [ParameterType(\"gfn\", ...)]")]
    [InlineData("{Int}", "unknown parameter type {Int} at column 1: register it with [ParameterType(\"Int\", ...)]")]
    [InlineData("a {int", "unclosed '{' at column 3: add '}' or write '\\{' for a literal brace")]
    [InlineData("a {int {int}", "unclosed '{' at column 3: add '}' or write '\\{' for a literal brace")]
    [InlineData("a {in(t}", "'(' may not appear in a parameter type name at column 6")]
    [InlineData("a {in/t}", "'/' may not appear in a parameter type name at column 6")]
    [InlineData("a {in\\t}", "'\\' may not appear in a parameter type name at column 6")]
    [InlineData("page(s", "unclosed '(' at column 5: add ')' or write '\\(' for a literal parenthesis")]
    [InlineData("page() is", "optional text may not be empty at column 5: write '\\(\\)' for literal parentheses")]
    [InlineData("page(s{int})", "optional text may not contain a parameter at column 7")]
    [InlineData("page(s(x))", "optional text may not be nested at column 7")]
    [InlineData("page(s/x)", "optional text may not contain an alternation at column 7: write '\\/' for a literal slash")]
    [InlineData("page(s\\", "the expression may not end with '\\' at column 7: write '\\\\' for a backslash")]
    [InlineData("page(\\x)", "'\\x' is not an escape at column 6: only ( ) { } / \\ and whitespace can be escaped")]
    [InlineData("a \\d+", "'\\d' is not an escape at column 3: only ( ) { } / \\ and whitespace can be escaped")]
    [InlineData("ends with \\", "the expression may not end with '\\' at column 11: write '\\\\' for a backslash")]
    [InlineData("a /b", "alternation may not be empty at column 3: write '\\/' for a literal slash")]
    [InlineData("a b/", "alternation may not be empty at column 4: write '\\/' for a literal slash")]
    [InlineData("a b//c", "alternation may not be empty at column 4: write '\\/' for a literal slash")]
    [InlineData("a b/c//d", "alternation may not be empty at column 6: write '\\/' for a literal slash")]
    [InlineData("{int}/{int}", "alternation may not be empty at column 6: write '\\/' for a literal slash")]
    [InlineData("a (b)/c", "an alternative may not be only optional text at column 6")]
    [InlineData("a c/(b)", "an alternative may not be only optional text at column 4")]
    public void Errors_name_the_problem_and_the_column(string expression, string error)
    {
        Assert.Equal(error, CompileError(expression));
    }

    [Fact]
    public void An_invalid_custom_regex_is_reported_where_it_is_used()
    {
        var types = BuiltInParameterTypes.WithCustom([Custom("bad", "global::X.Parse", "(a)\\1")]);

        var error = CompileError("a {bad}", types);

        // The backreference's group was made non-capturing, so it now refers to nothing.
        Assert.StartsWith("parameter type {bad} has an invalid regex '(a)\\1' at column 3: ", error);
    }

    [Fact]
    public void The_first_error_is_the_one_reported()
    {
        Assert.Equal(
            "unknown parameter type {x} at column 1: register it with [ParameterType(\"x\", ...)]",
            CompileError("{x} {y} (z"));
    }

    [Theory]
    [InlineData("the page is (\\d+) KiB", "^(?:the page is (\\d+) KiB)$", 1, "the page is 4 KiB")]
    [InlineData("^the page is (\\d+) KiB$", "^the page is (\\d+) KiB$", 1, "the page is 4 KiB")]
    [InlineData("^the page is (\\d+) KiB", "^(?:the page is (\\d+) KiB)$", 1, "the page is 4 KiB")]
    [InlineData("the page is (\\d+) KiB$", "^(?:the page is (\\d+) KiB)$", 1, "the page is 4 KiB")]
    [InlineData("costs \\$", "^(?:costs \\$)$", 0, "costs $")]
    [InlineData("costs \\\\$", "^(?:costs \\\\)$", 0, "costs \\")]
    [InlineData("mapped|unmapped", "^(?:mapped|unmapped)$", 0, "unmapped")]
    [InlineData("(a)(?:b)(?<c>c)", "^(?:(a)(?:b)(?<c>c))$", 2, "abc")]
    [InlineData("", "^(?:)$", 0, "")]
    public void Explicit_regex_is_anchored_and_every_group_is_a_parameter(string regex, string compiled, int groups, string text)
    {
        Assert.True(CucumberExpression.TryCompileRegex(regex, out var pattern, out var error));
        Assert.Null(error);
        Assert.Equal(compiled, pattern!.Regex);
        Assert.Equal(Enumerable.Repeat("regex", groups), pattern.ParameterTypeNames);
        Assert.Matches(pattern.Regex, text);
    }

    [Fact]
    public void Anchoring_an_alternation_keeps_both_alternatives_whole()
    {
        Assert.True(CucumberExpression.TryCompileRegex("mapped|unmapped", out var pattern, out _));

        Assert.DoesNotMatch(pattern!.Regex, "mapped twice");
        Assert.DoesNotMatch(pattern.Regex, "not unmapped");
    }

    [Theory]
    [InlineData("the page is (\\d+")]
    [InlineData("a)")]
    [InlineData("[z-a]")]
    [InlineData("trailing \\")]
    [InlineData("(a)\\2")]
    public void Invalid_explicit_regex_gives_the_parser_message(string regex)
    {
        Assert.False(CucumberExpression.TryCompileRegex(regex, out var pattern, out var error));
        Assert.Null(pattern);

        var expected = Assert.ThrowsAny<ArgumentException>(() => new Regex(regex)).Message;
        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("the SPTE at gfn 0x1234 is \"present\"", "the SPTE at gfn {int} is {string}", "int p0, string p1")]
    [InlineData("vcpu 3 has 2147483648 pages", "vcpu {int} has {long} pages", "int p0, long p1")]
    [InlineData("offset -2147483648 and -2147483649", "offset {int} and {long}", "int p0, long p1")]
    [InlineData("mask 0xffffffffffffffff", "mask {long}", "ulong p0")]
    [InlineData("mask 0x7fffffffffffffff", "mask {long}", "long p0")]
    [InlineData("huge 18446744073709551616", "huge {word}", "string p0")]
    [InlineData("gfn 0x1_0000_0000 is mapped", "gfn {long} is mapped", "long p0")]
    [InlineData("memory type 'wb' and \"say \\\"hi\\\"\"", "memory type {string} and {string}", "string p0, string p1")]
    [InlineData("the VM's page isn't mapped", "the VM's page isn't mapped", "")]
    [InlineData("vcpu0 runs 1.5 times at 4K", "vcpu0 runs 1.5 times at 4K", "")]
    [InlineData("the count is 5.", "the count is {int}.", "int p0")]
    [InlineData("a (b) {c} d/e \\ f", "a \\(b\\) \\{c\\} d\\/e \\\\ f", "")]
    [InlineData("", "", "")]
    public void Suggestions_for_undefined_steps(string step, string expression, string parameters)
    {
        Assert.Equal((expression, parameters), CucumberExpression.SuggestFor(step));
    }

    [Theory]
    [InlineData("the SPTE at gfn 0x1234 is \"present\"")]
    [InlineData("memory type 'wb' and \"say \\\"hi\\\"\"")]
    [InlineData("a (b) {c} d/e \\ f 7")]
    [InlineData("huge 18446744073709551616 and -3")]
    public void Suggestions_compile_and_match_their_step(string step)
    {
        var (expression, parameters) = CucumberExpression.SuggestFor(step);

        var pattern = Compile(expression);

        Assert.NotNull(Captures(pattern, step));
        Assert.Equal(parameters.Length == 0 ? 0 : parameters.Split(", ").Length, pattern.ParameterTypeNames.Count);
    }

    /// <summary>
    /// Property: any long, written in decimal or (when not negative) hex, is matched by
    /// {long} and converts to a C# literal of the same value.
    /// </summary>
    [Fact]
    public void Random_longs_round_trip_through_pattern_and_literal()
    {
        var pattern = Compile("the value is {long}");
        var random = new Random(20240917);
        var bytes = new byte[8];
        for (var i = 0; i < 2000; i++)
        {
            random.NextBytes(bytes);
            var value = BitConverter.ToInt64(bytes, 0) >> random.Next(64); // all magnitudes
            var hex = value >= 0 && random.Next(2) == 0;
            var text = hex ? (random.Next(2) == 0 ? "0x" : "0X") + value.ToString(random.Next(2) == 0 ? "x" : "X", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);

            var captured = Assert.Single(Matched(pattern, $"the value is {text}"));
            Assert.True(ArgumentConverter.TryConvert(captured, "long", "long", null, false, [], out var literal, out var error), error);

            Assert.EndsWith("L", literal);
            var digits = literal.Substring(0, literal.Length - 1);
            var parsed = digits.StartsWith("0x", StringComparison.Ordinal)
                ? long.Parse(digits.Substring(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
                : long.Parse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            Assert.True(value == parsed, $"{text} -> {literal}");
        }
    }
}
