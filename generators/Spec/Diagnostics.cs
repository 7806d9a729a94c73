using Microsoft.CodeAnalysis;

namespace SpecKit.Generators.Spec;

/// <summary>
/// Every diagnostic the spec generator reports. IDs are stable: tests, docs and users'
/// suppressions name them. Messages name the layout, field or value that is wrong.
/// </summary>
internal static class Diagnostics
{
    private const string Category = "SpecKit.Spec";

    public static readonly DiagnosticDescriptor UnknownKeyword = Error("SPEC001", "Unknown keyword", "Unknown keyword '{0}' {1}");

    public static readonly DiagnosticDescriptor MalformedNumber = Error("SPEC002", "Malformed number", "'{0}' is not a number ({1})");

    public static readonly DiagnosticDescriptor UnterminatedBlock = Error("SPEC003", "Unterminated block", "{0} is not terminated: expected '{1}' before the end of the file");

    public static readonly DiagnosticDescriptor MissingSource = Error("SPEC004", "Missing source citation", "{0} has no source citation: end the line with a quoted citation, e.g. \"spte.h SPTE_MMU_PRESENT_MASK\" or \"SDM Vol.3A Table 4-20\"");

    public static readonly DiagnosticDescriptor BitsOutOfRange = Error("SPEC005", "Bit range out of range", "{0}: {1}");

    public static readonly DiagnosticDescriptor Overlap = Error("SPEC006", "Overlapping fields", "{0} ({1}) overlaps {2} ({3}): every bit must be declared exactly once");

    public static readonly DiagnosticDescriptor Gap = Error("SPEC007", "Undeclared bits", "Layout {0} does not declare {1}: every bit must belong to a Field, Enum, Reserved or Ignored range");

    public static readonly DiagnosticDescriptor Duplicate = Error("SPEC008", "Duplicate name", "{0} is declared twice (first at {1})");

    public static readonly DiagnosticDescriptor OverrideMissing = Error("SPEC009", "Variant overrides nothing", "Variant {0} overrides {1}, which the base spec does not declare");

    public static readonly DiagnosticDescriptor UnknownReference = Error("SPEC010", "Unknown reference", "{0} refers to '{1}', which is not declared{2}");

    public static readonly DiagnosticDescriptor EnumValueTooWide = Error("SPEC011", "Enum value too wide", "{0} = {1} does not fit in the {2} bits of {3}");

    public static readonly DiagnosticDescriptor InvalidName = Error("SPEC012", "Invalid name", "'{0}' is not a valid name for {1}: {2}");

    public static readonly DiagnosticDescriptor CyclicValue = Error("SPEC013", "Cyclic value", "Value {0} depends on itself ({1})");

    public static readonly DiagnosticDescriptor WalkerInvalid = Error("SPEC014", "Invalid walker", "Walker {0}: {1}");

    public static readonly DiagnosticDescriptor Syntax = Error("SPEC015", "Syntax error", "{0}");

    public static readonly DiagnosticDescriptor UnexpectedEnd = Error("SPEC016", "Unexpected block end", "'{0}' closes no open {1}");

    public static readonly DiagnosticDescriptor MisplacedVariant = Error("SPEC017", "Misplaced Variant", "{0}");

    public static readonly DiagnosticDescriptor InvalidPolicyValue = Error("SPEC018", "Invalid policy value", "{0}: '{1}' is not a value of {2}; expected {3}");

    public static readonly DiagnosticDescriptor MissingPolicyKey = Error("SPEC019", "Missing policy key", "Operation {0} does not say {1}: add '{1} <{2}> \"source\"'");

    public static readonly DiagnosticDescriptor NumberTooLarge = Error("SPEC020", "Number too large", "{0} does not fit in 64 bits{1}");

    public static readonly DiagnosticDescriptor DuplicateValue = Error("SPEC021", "Duplicate value", "{0} has the value {1}, which {2} already has (at {3}): each member of an enum names a different value");

    public static readonly DiagnosticDescriptor ContradictoryPolicy = Error("SPEC022", "Contradictory policy", "Operation {0}: {1}");

    public static readonly DiagnosticDescriptor NonAsciiName = Error("SPEC023", "Name that only looks like ASCII", "'{0}' ({1}) contains {2}: names are ASCII letters, digits and '_', so two names that look alike are the same name");

    public static readonly DiagnosticDescriptor EmptySpecFile = new("SPEC024", "Empty spec file", "{0} declares nothing: add a Layout, Constants, Format, Walker or Operation block, or delete the file", Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidUtf8 = Error("SPEC025", "Invalid UTF-8", "{0} is not valid UTF-8 at line {1}, column {2} (the compiler read it as U+FFFD): save the file as UTF-8");

    public static readonly DiagnosticDescriptor UnknownOperation = Error("SPEC040", "Unknown operation", "Operation {0} is not an operation the runtime runs; the operations are {1}");

    public static readonly DiagnosticDescriptor MissingOperation = Error("SPEC041", "Missing operation", "The spec declares no Operation {0}, which the runtime runs: add an 'Operation {0} \"title\"' block with its policy (the runtime's operations are {1})");

    public static readonly DiagnosticDescriptor UnknownFormatName = Error("SPEC042", "Unknown SPTE format name", "{0} is not one of the runtime's SPTE {1}; they are {2}");

    public static readonly DiagnosticDescriptor MissingFormatItem = Error("SPEC043", "Missing SPTE format item", "{0} does not give {1}, which the runtime reads: add it with its citation");

    public static readonly DiagnosticDescriptor InternalError = Error("SPEC099", "Spec generator internal error", "The spec generator failed while {0}: {1}. This is a bug in SpecKit; the spec was not changed.");

    public static DiagnosticDescriptor Find(string id) => id switch
    {
        "SPEC001" => UnknownKeyword,
        "SPEC002" => MalformedNumber,
        "SPEC003" => UnterminatedBlock,
        "SPEC004" => MissingSource,
        "SPEC005" => BitsOutOfRange,
        "SPEC006" => Overlap,
        "SPEC007" => Gap,
        "SPEC008" => Duplicate,
        "SPEC009" => OverrideMissing,
        "SPEC010" => UnknownReference,
        "SPEC011" => EnumValueTooWide,
        "SPEC012" => InvalidName,
        "SPEC013" => CyclicValue,
        "SPEC014" => WalkerInvalid,
        "SPEC015" => Syntax,
        "SPEC016" => UnexpectedEnd,
        "SPEC017" => MisplacedVariant,
        "SPEC018" => InvalidPolicyValue,
        "SPEC019" => MissingPolicyKey,
        "SPEC020" => NumberTooLarge,
        "SPEC021" => DuplicateValue,
        "SPEC022" => ContradictoryPolicy,
        "SPEC023" => NonAsciiName,
        "SPEC024" => EmptySpecFile,
        "SPEC025" => InvalidUtf8,
        "SPEC040" => UnknownOperation,
        "SPEC041" => MissingOperation,
        "SPEC042" => UnknownFormatName,
        "SPEC043" => MissingFormatItem,
        _ => InternalError,
    };

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
