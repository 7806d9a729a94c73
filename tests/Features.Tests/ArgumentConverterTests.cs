using SpecKit.Generators.Features.Binding;

namespace SpecKit.Tests.Features;

/// <summary>Captured step text to C# argument source, one rule per test.</summary>
public sealed class ArgumentConverterTests
{
    private static readonly string[] MemTypes = ["Uc", "Wc", "Wt", "Wp", "Wb"];

    private static string Convert(string captured, string clrType, string parameterTypeName = "", string? converter = null, IReadOnlyList<string>? enumMembers = null)
    {
        var ok = ArgumentConverter.TryConvert(captured, parameterTypeName, clrType, converter, enumMembers is not null, enumMembers ?? [], out var expression, out var error);
        Assert.True(ok, error);
        Assert.Null(error);
        return expression;
    }

    private static string Error(string captured, string clrType, string parameterTypeName = "", IReadOnlyList<string>? enumMembers = null)
    {
        Assert.False(ArgumentConverter.TryConvert(captured, parameterTypeName, clrType, null, enumMembers is not null, enumMembers ?? [], out var expression, out var error));
        Assert.Equal("", expression);
        return error!;
    }

    [Theory]
    // Each integer type at both ends of its range, in decimal and hex.
    [InlineData("sbyte", "-128", "(sbyte)-128")]
    [InlineData("sbyte", "127", "(sbyte)127")]
    [InlineData("sbyte", "0x7f", "(sbyte)0x7f")]
    [InlineData("byte", "0", "(byte)0")]
    [InlineData("byte", "255", "(byte)255")]
    [InlineData("byte", "0xFF", "(byte)0xFF")]
    [InlineData("short", "-32768", "(short)-32768")]
    [InlineData("short", "32767", "(short)32767")]
    [InlineData("short", "0x7fff", "(short)0x7fff")]
    [InlineData("ushort", "0", "(ushort)0")]
    [InlineData("ushort", "65535", "(ushort)65535")]
    [InlineData("ushort", "0xffff", "(ushort)0xffff")]
    [InlineData("int", "-2147483648", "-2147483648")]
    [InlineData("int", "2147483647", "2147483647")]
    [InlineData("int", "0x7fffffff", "0x7fffffff")]
    [InlineData("int", "0X1F", "0x1F")]
    [InlineData("int", "+5", "5")]
    [InlineData("int", "-0x10", "-16")]
    [InlineData("int", "007", "7")]
    [InlineData("uint", "0", "0U")]
    [InlineData("uint", "4294967295", "4294967295U")]
    [InlineData("uint", "0xffff_ffff", "0xffffffffU")]
    [InlineData("long", "-9223372036854775808", "-9223372036854775808L")]
    [InlineData("long", "9223372036854775807", "9223372036854775807L")]
    [InlineData("long", "0x7fffffffffffffff", "0x7fffffffffffffffL")]
    [InlineData("long", "0x1_0000_0000", "0x100000000L")]
    [InlineData("ulong", "0", "0UL")]
    [InlineData("ulong", "18446744073709551615", "18446744073709551615UL")]
    [InlineData("ulong", "0xffffffffffffffff", "0xffffffffffffffffUL")]
    [InlineData("int?", "0x10", "0x10")]
    [InlineData("int", " 42 ", "42")]
    public void Integers_fit_their_type(string clrType, string captured, string expression)
    {
        Assert.Equal(expression, Convert(captured, clrType, "int"));
    }

    [Theory]
    [InlineData("sbyte", "-129", "'-129' does not fit in sbyte (-128 to 127)")]
    [InlineData("sbyte", "128", "'128' does not fit in sbyte (-128 to 127)")]
    [InlineData("sbyte", "0x80", "'0x80' does not fit in sbyte (-128 to 127)")]
    [InlineData("byte", "-1", "'-1' does not fit in byte (0 to 255)")]
    [InlineData("byte", "256", "'256' does not fit in byte (0 to 255)")]
    [InlineData("byte", "0x100", "'0x100' does not fit in byte (0 to 255)")]
    [InlineData("short", "-32769", "'-32769' does not fit in short (-32768 to 32767)")]
    [InlineData("short", "0x8000", "'0x8000' does not fit in short (-32768 to 32767)")]
    [InlineData("ushort", "-1", "'-1' does not fit in ushort (0 to 65535)")]
    [InlineData("ushort", "65536", "'65536' does not fit in ushort (0 to 65535)")]
    [InlineData("int", "-2147483649", "'-2147483649' does not fit in int (-2147483648 to 2147483647)")]
    [InlineData("int", "2147483648", "'2147483648' does not fit in int (-2147483648 to 2147483647)")]
    [InlineData("int", "0x80000000", "'0x80000000' does not fit in int (-2147483648 to 2147483647)")]
    [InlineData("int", "0x1ffffffff", "'0x1ffffffff' does not fit in int (-2147483648 to 2147483647)")]
    [InlineData("uint", "-1", "'-1' does not fit in uint (0 to 4294967295)")]
    [InlineData("uint", "0x1_0000_0000", "'0x1_0000_0000' does not fit in uint (0 to 4294967295)")]
    [InlineData("long", "-9223372036854775809", "'-9223372036854775809' does not fit in long (-9223372036854775808 to 9223372036854775807)")]
    [InlineData("long", "9223372036854775808", "'9223372036854775808' does not fit in long (-9223372036854775808 to 9223372036854775807)")]
    [InlineData("long", "0x8000000000000000", "'0x8000000000000000' does not fit in long (-9223372036854775808 to 9223372036854775807)")]
    [InlineData("ulong", "-1", "'-1' does not fit in ulong (0 to 18446744073709551615)")]
    [InlineData("ulong", "18446744073709551616", "'18446744073709551616' does not fit in ulong (0 to 18446744073709551615)")]
    [InlineData("ulong", "0x1_0000_0000_0000_0000", "'0x1_0000_0000_0000_0000' does not fit in ulong (0 to 18446744073709551615)")]
    public void Integers_that_do_not_fit_name_the_value_and_the_type(string clrType, string captured, string error)
    {
        Assert.Equal(error, Error(captured, clrType, "long"));
    }

    [Theory]
    [InlineData("ten")]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("0x")]
    [InlineData("0xg1")]
    [InlineData("0x_1")]
    [InlineData("0x1_")]
    [InlineData("1_000")]
    [InlineData("1.5")]
    [InlineData("1e3")]
    [InlineData("--1")]
    [InlineData("٣")] // an Arabic-Indic digit: a digit to char.IsDigit, not to C#
    public void Non_integers_are_errors(string captured)
    {
        Assert.Equal($"'{captured}' is not an integer (write a decimal like 42 or hex like 0x2a)", Error(captured, "int", "int"));
    }

    [Theory]
    [InlineData("true", "true")]
    [InlineData("TRUE", "true")]
    [InlineData("Yes", "true")]
    [InlineData("false", "false")]
    [InlineData("False", "false")]
    [InlineData("no", "false")]
    [InlineData("NO", "false")]
    public void Bools_accept_true_false_yes_no(string captured, string expression)
    {
        Assert.Equal(expression, Convert(captured, "bool", "word"));
        Assert.Equal(expression, Convert(captured, "bool?", "word"));
    }

    [Theory]
    [InlineData("maybe")]
    [InlineData("1")]
    [InlineData("y")]
    public void Other_bools_are_errors(string captured)
    {
        Assert.Equal($"'{captured}' is not a bool (write true or false)", Error(captured, "bool", "word"));
    }

    [Fact]
    public void A_quoted_bool_is_unquoted_first()
    {
        Assert.Equal("true", Convert("\"yes\"", "bool", "string"));
    }

    [Theory]
    [InlineData("double", "1.5", "1.5D")]
    [InlineData("double", "-2", "-2D")]
    [InlineData("double", ".5", "0.5D")]
    [InlineData("double", "+2.5e-3", "0.0025D")]
    [InlineData("double", "1e20", "1E+20D")]
    [InlineData("double", "1.", "1D")]
    [InlineData("double", "0.1", "0.1D")]
    [InlineData("float", "1.5", "1.5F")]
    [InlineData("float", "3.4028235e38", "3.4028235E+38F")]
    [InlineData("decimal", "1.50", "1.50M")]
    [InlineData("decimal", "-0.1", "-0.1M")]
    [InlineData("decimal", "1e3", "1000M")]
    [InlineData("double?", "2", "2D")]
    public void Reals_become_literals_of_their_type(string clrType, string captured, string expression)
    {
        Assert.Equal(expression, Convert(captured, clrType, "double"));
    }

    [Theory]
    [InlineData("double", "abc", "'abc' is not a double")]
    [InlineData("double", "NaN", "'NaN' is not a double")]
    [InlineData("double", "1e400", "'1e400' does not fit in double")]
    [InlineData("double", "0x10", "'0x10' is not a double")]
    [InlineData("float", "1e39", "'1e39' does not fit in float")]
    [InlineData("float", "1,5", "'1,5' is not a float")]
    [InlineData("decimal", "1e40", "'1e40' is not a decimal")]
    [InlineData("decimal", "x", "'x' is not a decimal")]
    public void Bad_reals_are_errors(string clrType, string captured, string error)
    {
        Assert.Equal(error, Error(captured, clrType, "double"));
    }

    [Theory]
    [InlineData("\"present\"", "\"present\"")]
    [InlineData("'present'", "\"present\"")]
    [InlineData("\"\"", "\"\"")]
    [InlineData("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"")]
    [InlineData("'it\\'s'", "\"it's\"")]
    [InlineData("'a \\\\ b'", "\"a \\\\ b\"")]
    [InlineData("\"\\n stays\"", "\"\\\\n stays\"")]
    [InlineData("\"mixed'\"", "\"mixed'\"")]
    public void String_parameters_lose_their_quotes_and_escapes(string captured, string expression)
    {
        Assert.Equal(expression, Convert(captured, "string", "string"));
    }

    [Theory]
    [InlineData("word", "present", "\"present\"")]
    [InlineData("", "a \"quoted\" \\ path", "\"a \\\"quoted\\\" \\\\ path\"")]
    [InlineData("int", "0x10", "\"0x10\"")]
    [InlineData("regex", "'kept'", "\"'kept'\"")]
    [InlineData("", "\"half", "\"\\\"half\"")]
    public void Other_captures_into_strings_are_kept_as_they_are(string parameterTypeName, string captured, string expression)
    {
        Assert.Equal(expression, Convert(captured, "string", parameterTypeName));
        Assert.Equal(expression, Convert(captured, "string?", parameterTypeName));
    }

    [Theory]
    [InlineData("", "\"\"")]
    [InlineData("plain", "\"plain\"")]
    [InlineData("\"", "\"\\\"\"")]
    [InlineData("\\", "\"\\\\\"")]
    [InlineData("a\nb\r\tc\0d", "\"a\\nb\\r\\tc\\0d\"")]
    [InlineData("\u0001\u001f\u007f\u0085", "\"\\u0001\\u001f\\u007f\\u0085\"")]
    [InlineData("\u2028\u2029", "\"\\u2028\\u2029\"")]
    [InlineData("it's ünïcødé €", "\"it's ünïcødé €\"")]
    [InlineData("\U0001F600", "\"\U0001F600\"")]
    [InlineData("{0} $@", "\"{0} $@\"")]
    public void String_literals_escape_what_a_literal_cannot_hold(string value, string literal)
    {
        Assert.Equal(literal, ArgumentConverter.StringLiteral(value));
    }

    [Fact]
    public void String_literals_escape_lone_surrogates()
    {
        // Not in [InlineData]: attribute strings are stored as UTF-8, which cannot hold them.
        Assert.Equal("\"\\ud800x\\udc00\"", ArgumentConverter.StringLiteral("\ud800x\udc00"));
        Assert.Equal("\"\\udc00\ud83d\ude00\\ud83d\"", ArgumentConverter.StringLiteral("\udc00\ud83d\ude00\ud83d"));
    }

    [Theory]
    [InlineData("Wb", "word", "global::Ns.EptSpteMemType.Wb")]
    [InlineData("wb", "word", "global::Ns.EptSpteMemType.Wb")]
    [InlineData("WB", "word", "global::Ns.EptSpteMemType.Wb")]
    [InlineData("\"uc\"", "string", "global::Ns.EptSpteMemType.Uc")]
    [InlineData(" Wt ", "", "global::Ns.EptSpteMemType.Wt")]
    public void Enum_members_match_case_insensitively(string captured, string parameterTypeName, string expression)
    {
        Assert.Equal(expression, Convert(captured, "global::Ns.EptSpteMemType", parameterTypeName, enumMembers: MemTypes));
    }

    [Fact]
    public void Enum_exact_case_wins_over_a_case_insensitive_tie()
    {
        string[] members = ["Wb", "WB"];

        Assert.Equal("global::Ns.E.WB", Convert("WB", "global::Ns.E", "word", enumMembers: members));
        Assert.Equal(
            "'wb' matches several members of global::Ns.E (Wb, WB): write one exactly",
            Error("wb", "global::Ns.E", "word", members));
    }

    [Fact]
    public void Enum_member_that_could_be_a_keyword_is_escaped()
    {
        // Roslyn names the member of "enum E { @default }" just "default".
        string[] members = ["default", "Other"];

        Assert.Equal("global::Ns.E.@default", Convert("Default", "global::Ns.E", "word", enumMembers: members));
        Assert.Equal("global::Ns.E.Other", Convert("other", "global::Ns.E?", "word", enumMembers: members));
    }

    [Fact]
    public void Unknown_enum_member_lists_the_members()
    {
        Assert.Equal(
            "'Wx' is not a member of global::Ns.EptSpteMemType (write one of: Uc, Wc, Wt, Wp, Wb)",
            Error("Wx", "global::Ns.EptSpteMemType", "word", MemTypes));
    }

    [Theory]
    [InlineData("0x1234", "gfn", "global::SpecKit.Steps.Gfns.Parse(\"0x1234\")")]
    [InlineData("\"quoted\"", "string", "global::SpecKit.Steps.Gfns.Parse(\"\\\"quoted\\\"\")")]
    [InlineData("a\\b", "gfn", "global::SpecKit.Steps.Gfns.Parse(\"a\\\\b\")")]
    public void Custom_types_call_their_converter_with_the_capture_as_it_is(string captured, string parameterTypeName, string expression)
    {
        Assert.Equal(expression, Convert(captured, "global::SpecKit.Mmu.Gfn", parameterTypeName, converter: "global::SpecKit.Steps.Gfns.Parse"));
    }

    [Fact]
    public void A_converter_wins_even_for_a_built_in_clr_type()
    {
        Assert.Equal("global::X.Hex(\"ff\")", Convert("ff", "int", "hex", converter: "global::X.Hex"));
    }

    [Theory]
    [InlineData("global::SpecKit.Mmu.Gfn")]
    [InlineData("char")]
    [InlineData("object")]
    [InlineData("global::System.DateTime")]
    public void A_type_without_a_conversion_is_an_error_that_suggests_a_parameter_type(string clrType)
    {
        Assert.Equal(
            $"'0x10' cannot be converted to {clrType}: register a [ParameterType] whose method returns {clrType}",
            Error("0x10", clrType, "int"));
    }
}
