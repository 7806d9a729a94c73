using System;
using System.Collections.Generic;
using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

/// <summary>
/// Checks the parsed spec as a whole and resolves it into models: the base, and the base
/// with each variant laid over it. A broken item is reported and left out of its model;
/// the rest is still emitted, so one typo does not cascade into hundreds of C# errors.
/// </summary>
internal sealed class SpecValidator
{
    public const string BaseNamespace = "SpecKit.Mmu";

    private readonly List<DiagnosticInfo> _diagnostics = [];

    public static SpecSet Resolve(IReadOnlyList<SpecDocument> documents)
    {
        var validator = new SpecValidator();
        var units = validator.ResolveAll(documents.OrderBy(d => d.Path, StringComparer.Ordinal).ToList());
        var diagnostics = documents.OrderBy(d => d.Path, StringComparer.Ordinal).SelectMany(d => d.Diagnostics).Concat(validator._diagnostics).ToList();
        return new SpecSet(UniqueHintNames(units, diagnostics).ToEquatableArray(), diagnostics.ToEquatableArray());
    }

    /// <summary>
    /// The compiler fails the whole generator when two files have one hint name (compared
    /// ignoring case). The checks above report each such clash at the spec line; this keeps
    /// the first unit of each name so that no clash can ever reach the compiler.
    /// </summary>
    private static IEnumerable<EmitUnit> UniqueHintNames(List<EmitUnit> units, List<DiagnosticInfo> diagnostics)
    {
        foreach (var group in units.GroupBy(u => u.HintName, StringComparer.OrdinalIgnoreCase))
        {
            if (group.Count() > 1 && !diagnostics.Any(d => d.Id == Diagnostics.Duplicate.Id || d.Id == Diagnostics.InvalidName.Id))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.InternalError, null, "naming the generated files", $"{group.Count()} files are named {group.Key}"));
            }

            yield return group.First();
        }
    }

    private List<EmitUnit> ResolveAll(List<SpecDocument> documents)
    {
        var baseDocs = documents.Where(d => d.Variant is null).ToList();
        var layouts = Collect(baseDocs.SelectMany(d => d.Layouts), l => l.Name, l => l.Span, "Layout");
        var constants = Collect(baseDocs.SelectMany(d => d.Constants), c => c.Name, c => c.Span, "Constants");
        var walkers = Collect(baseDocs.SelectMany(d => d.Walkers), w => w.Name, w => w.Span, "Walker");
        var operations = Collect(baseDocs.SelectMany(d => d.Operations), o => o.Name, o => o.Span, "Operation");
        var formats = Collect(baseDocs.SelectMany(d => d.Formats), f => f.Name, f => f.Span, "Format");
        CheckValueNamesUnique(constants.Values);
        CheckVariantNames(documents);
        CheckOperationNames(operations);

        var units = new List<EmitUnit>();
        var baseModel = new ModelId(BaseNamespace, null, "The newest kernel's behaviour");
        units.AddRange(ResolveModel(baseModel, layouts, constants, walkers, operations, formats, baseDocs));

        var variants = documents.Where(d => d.Variant is not null).GroupBy(d => d.Variant!.Name, StringComparer.Ordinal).ToList();
        units.Add(new ModelNamesUnit(baseModel, variants.Select(g => g.Key).OrderBy(n => n, StringComparer.Ordinal).ToEquatableArray()));
        foreach (var group in variants.OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var docs = group.ToList();
            var header = docs[0].Variant!;
            var model = new ModelId($"{BaseNamespace}.Variants.{header.Name}", header.Name, header.Title);
            var vLayouts = new Dictionary<string, LayoutDecl>(layouts, StringComparer.Ordinal);
            var vConstants = new Dictionary<string, ConstantsDecl>(constants, StringComparer.Ordinal);
            var vWalkers = new Dictionary<string, WalkerDecl>(walkers, StringComparer.Ordinal);
            var vOperations = new Dictionary<string, OperationDecl>(operations, StringComparer.Ordinal);
            var vFormats = new Dictionary<string, ConstantsDecl>(formats, StringComparer.Ordinal);
            var overridden = new Dictionary<string, SourceSpan>(StringComparer.Ordinal);
            _variant = new VariantContext(header, docs.Select(d => d.Path));

            foreach (var doc in docs)
            {
                foreach (var layout in doc.Layouts)
                {
                    Override(header, vLayouts, layout.Name, layout, layout.Span, "Layout", overridden);
                }

                foreach (var walker in doc.Walkers)
                {
                    Override(header, vWalkers, walker.Name, walker, walker.Span, "Walker", overridden);
                }

                foreach (var operation in doc.Operations)
                {
                    if (!vOperations.TryGetValue(operation.Name, out var baseOperation))
                    {
                        Report(Diagnostics.OverrideMissing, operation.Span, header.Name, "Operation " + operation.Name);
                    }
                    else if (NotOverriddenTwice("Operation " + operation.Name, operation.Span, overridden))
                    {
                        CheckRemoval(operation);

                        // A variant's Operation block changes the keys it names and keeps the rest.
                        var entries = baseOperation.Entries.Where(e => operation.Entries.All(o => o.Key != e.Key)).Concat(operation.Entries);
                        vOperations[operation.Name] = baseOperation with { Title = operation.Title, Entries = entries.ToEquatableArray() };
                        _variant.Relocations[baseOperation.Span] = operation.Span;
                    }
                }

                OverrideValues(header, doc.Constants, vConstants, "Constants", "Value", overridden);
                OverrideValues(header, doc.Formats, vFormats, "Format", "Mask", overridden);
            }

            units.AddRange(ResolveModel(model, vLayouts, vConstants, vWalkers, vOperations, vFormats, docs.Concat(baseDocs).ToList()));
            _variant = null;
        }

        // The registry needs every model's info (and its rules): only a spec with policies has them.
        if (operations.Count > 0)
        {
            units.Add(new ModelIndexUnit(units.OfType<ModelInfoUnit>().Select(u => u.Model).ToEquatableArray()));
        }

        return units;
    }

    /// <summary>
    /// A variant is a namespace and a model name: "base" names the base model, and two variants
    /// whose names differ only in case would share generated file names.
    /// </summary>
    private void CheckVariantNames(List<SpecDocument> documents)
    {
        var headers = documents.Where(d => d.Variant is not null).Select(d => d.Variant!).ToList();
        foreach (var header in headers.Where(h => string.Equals(h.Name, "base", StringComparison.OrdinalIgnoreCase)))
        {
            Report(Diagnostics.InvalidName, header.Span, header.Name, "a variant", "base is the name of the base model (SpecModel.Name), in any case");
        }

        CheckCaseCollisions(headers.GroupBy(h => h.Name, StringComparer.Ordinal).Select(g => g.First()), h => h.Name, h => h.Span, "Variant");

        // Several files may make up one variant; they must agree on what it is.
        foreach (var group in headers.GroupBy(h => h.Name, StringComparer.Ordinal))
        {
            var first = group.First();
            foreach (var other in group.Skip(1).Where(h => h.Title != first.Title))
            {
                Report(Diagnostics.Duplicate, other.Span, $"Variant {other.Name} with another title (\"{other.Title}\")", first.Span.Display);
            }
        }
    }

    /// <summary>
    /// The runtime reads every policy through a typed member (MmuRules.&lt;Operation&gt;): an
    /// operation it does not run is an error at its block, and one it runs that the spec leaves
    /// out is an error at the first Operation block. A spec with no operations at all declares
    /// no policy (a layout-only spec), and its model has no rules to check.
    /// </summary>
    private void CheckOperationNames(Dictionary<string, OperationDecl> operations)
    {
        var known = string.Join(", ", PolicyKeys.Operations);
        foreach (var operation in operations.Values.Where(o => !IsRuntimeOperation(o.Name)))
        {
            Report(Diagnostics.UnknownOperation, operation.Span, operation.Name, known);
        }

        if (operations.Count == 0)
        {
            return;
        }

        var first = operations.Values.OrderBy(o => o.Span.Path, StringComparer.Ordinal).ThenBy(o => o.Span.Start).First();
        foreach (var missing in PolicyKeys.Operations.Where(name => !operations.ContainsKey(name)))
        {
            Report(Diagnostics.MissingOperation, first.Span, missing, known);
        }
    }

    /// <summary>A variant's Constants or Format block changes the values it names and keeps the rest.</summary>
    private void OverrideValues(VariantHeader header, EquatableArray<ConstantsDecl> blocks, Dictionary<string, ConstantsDecl> into, string kind, string member, Dictionary<string, SourceSpan> overridden)
    {
        foreach (var block in blocks)
        {
            if (!into.TryGetValue(block.Name, out var baseBlock))
            {
                Report(Diagnostics.OverrideMissing, block.Span, header.Name, $"{kind} {block.Name}");
                continue;
            }

            var values = baseBlock.Values.ToList();
            foreach (var value in block.Values)
            {
                var index = values.FindIndex(v => v.Name == value.Name);
                if (index < 0)
                {
                    Report(Diagnostics.OverrideMissing, value.Span, header.Name, $"{member} {value.Name} in {kind} {block.Name}");
                }
                else if (NotOverriddenTwice($"{kind} {block.Name} {member} {value.Name}", value.Span, overridden))
                {
                    _variant!.Relocations[values[index].Span] = value.Span;
                    values[index] = value;
                }
            }

            into[block.Name] = baseBlock with { Values = values.ToEquatableArray() };
        }
    }

    private static bool IsRuntimeOperation(string name) => Array.IndexOf(PolicyKeys.Operations, name) >= 0;

    private void Override<T>(VariantHeader header, Dictionary<string, T> items, string name, T item, SourceSpan span, string kind, Dictionary<string, SourceSpan> overridden)
    {
        if (!items.ContainsKey(name))
        {
            Report(Diagnostics.OverrideMissing, span, header.Name, $"{kind} {name}");
        }
        else if (NotOverriddenTwice($"{kind} {name}", span, overridden))
        {
            items[name] = item;
        }
    }

    private bool NotOverriddenTwice(string key, SourceSpan span, Dictionary<string, SourceSpan> overridden)
    {
        if (overridden.TryGetValue(key, out var first))
        {
            Report(Diagnostics.Duplicate, span, $"The override of {key}", first.Display);
            return false;
        }

        overridden[key] = span;
        return true;
    }

    private IEnumerable<EmitUnit> ResolveModel(
        ModelId model,
        Dictionary<string, LayoutDecl> layouts,
        Dictionary<string, ConstantsDecl> constants,
        Dictionary<string, WalkerDecl> walkers,
        Dictionary<string, OperationDecl> operations,
        Dictionary<string, ConstantsDecl> formats,
        List<SpecDocument> documents)
    {
        // Layouts are checked once per declaration, not once per model that shares them.
        var resolvedLayouts = new Dictionary<string, LayoutModel>(StringComparer.Ordinal);
        foreach (var layout in layouts.Values.OrderBy(l => l.Name, StringComparer.Ordinal))
        {
            if (CheckLayout(layout) is { } resolved)
            {
                resolvedLayouts[layout.Name] = resolved;
            }
        }

        CheckTypeNames(layouts.Values, constants.Values, walkers.Values);
        // A variant's model names its own overlay files; the base's it takes from the base model.
        var files = documents.Where(d => model.Variant is null || d.Variant is not null)
            .Select(d => DisplayPath(d.Path)).Distinct().OrderBy(p => p, StringComparer.Ordinal).ToEquatableArray();
        var constantBlocks = new List<string>();

        foreach (var layout in resolvedLayouts.Values)
        {
            yield return new LayoutUnit(model, layout, Describe: operations.Count > 0);
        }

        var evaluator = new ValueEvaluator(this, layouts, constants);
        foreach (var block in constants.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            var values = new List<ValueModel>();
            foreach (var value in block.Values)
            {
                if (evaluator.Evaluate(value) is { } result && value.Source is not null)
                {
                    values.Add(new ValueModel(value.Name, result, value.Text, value.Source, Origin(value.Span)));
                }
            }

            constantBlocks.Add(block.Name);
            yield return new ConstantsUnit(model, new ConstantsModel(block.Name, block.Title, Origin(block.Span), values.ToEquatableArray()), Describe: operations.Count > 0);
        }

        foreach (var walker in walkers.Values.OrderBy(w => w.Name, StringComparer.Ordinal))
        {
            if (new WalkerChecker(this, walker, layouts).Check() is { } resolved)
            {
                yield return new WalkerUnit(model, resolved);
                if (resolved.EmitIterator)
                {
                    yield return new IterUnit(model, resolved);
                }
            }
        }

        var policies = new List<string>();
        foreach (var operation in operations.Values.OrderBy(o => o.Name, StringComparer.Ordinal))
        {
            // An operation the runtime does not run is checked (its keys may be wrong too) but not emitted.
            if (CheckOperation(operation) is { } resolved && IsRuntimeOperation(resolved.Name))
            {
                policies.Add(resolved.Name);
                yield return new OperationUnit(model, resolved);
            }
        }

        if (operations.Count > 0)
        {
            yield return new PolicyIndexUnit(model, PolicyKeys.Operations.Where(policies.Contains).ToEquatableArray());
        }

        var resolvedFormats = CheckFormats(formats, layouts, constants, required: operations.Count > 0);
        if (resolvedFormats.Count > 0)
        {
            yield return new FormatsUnit(model, resolvedFormats.ToEquatableArray());
        }

        yield return new ModelInfoUnit(model, files, resolvedLayouts.Keys.OrderBy(k => k, StringComparer.Ordinal).ToEquatableArray(), constantBlocks.ToEquatableArray(), resolvedFormats.Select(f => f.Name).ToEquatableArray(), HasRules: operations.Count > 0);
    }

    /// <summary>
    /// The SPTE formats the runtime builds (its SpteFormat enum), each giving every SpteMask: an
    /// unknown name is SPEC042 at its line, a format or mask left out SPEC043. A spec with
    /// policies runs the runtime, so it must give every format; a layout-only spec need not.
    /// Each format's masks are evaluated in this model, so they follow a variant's layouts.
    /// </summary>
    private List<FormatModel> CheckFormats(Dictionary<string, ConstantsDecl> formats, Dictionary<string, LayoutDecl> layouts, Dictionary<string, ConstantsDecl> constants, bool required)
    {
        var resolved = new List<FormatModel>();
        var masks = Enum.GetNames(typeof(RuntimeValues.SpteMask));
        var names = Enum.GetNames(typeof(RuntimeValues.SpteFormat));
        foreach (var format in formats.Values.OrderBy(f => Array.IndexOf(names, f.Name)))
        {
            if (Array.IndexOf(names, format.Name) < 0)
            {
                Report(Diagnostics.UnknownFormatName, format.Span, "Format " + format.Name, "formats", string.Join(", ", names));
                continue;
            }

            var ok = true;
            var values = new List<ValueModel>();
            var evaluator = new ValueEvaluator(this, layouts, constants);
            foreach (var mask in format.Values)
            {
                if (Array.IndexOf(masks, mask.Name) < 0)
                {
                    Report(Diagnostics.UnknownFormatName, mask.Span, $"Mask {mask.Name} in Format {format.Name}", "masks", string.Join(", ", masks));
                    ok = false;
                }
                else if (values.Any(v => v.Name == mask.Name))
                {
                    Report(Diagnostics.Duplicate, mask.Span, $"Mask {mask.Name} of Format {format.Name}", format.Values.First(v => v.Name == mask.Name).Span.Display);
                    ok = false;
                }
                else if (evaluator.Evaluate(mask) is { } value && mask.Source is not null)
                {
                    values.Add(new ValueModel(mask.Name, value, mask.Text, mask.Source, Origin(mask.Span)));
                }
                else
                {
                    ok = false;
                }
            }

            foreach (var missing in masks.Where(m => format.Values.All(v => v.Name != m)))
            {
                Report(Diagnostics.MissingFormatItem, format.Span, $"Format {format.Name}", "Mask " + missing);
                ok = false;
            }

            if (ok)
            {
                resolved.Add(new FormatModel(format.Name, format.Title, Origin(format.Span), masks.Select(m => values.First(v => v.Name == m)).ToEquatableArray()));
            }
        }

        if (required && formats.Count > 0)
        {
            var first = formats.Values.OrderBy(f => f.Span.Path, StringComparer.Ordinal).ThenBy(f => f.Span.Start).First();
            foreach (var missing in names.Where(n => !formats.ContainsKey(n)))
            {
                Report(Diagnostics.MissingFormatItem, first.Span, "the spec", "Format " + missing);
            }
        }

        return resolved;
    }

    private OperationModel? CheckOperation(OperationDecl operation)
    {
        var ok = true;
        var seen = new Dictionary<string, PolicyEntry>(StringComparer.Ordinal);
        foreach (var entry in operation.Entries)
        {
            ok &= entry.Source is not null;
            if (seen.TryGetValue(entry.Key, out var first))
            {
                Report(Diagnostics.Duplicate, entry.Span, $"{entry.Key} of Operation {operation.Name}", first.Span.Display);
                ok = false;
                continue;
            }

            seen[entry.Key] = entry;
            var allowed = PolicyKeys.Values[entry.Key];
            if (!PolicyKeys.Lists.Contains(entry.Key) && entry.Values.Count != 1)
            {
                Report(Diagnostics.InvalidPolicyValue, entry.ValueSpan, $"Operation {operation.Name}", string.Join(" ", entry.Values), entry.Key, "exactly one of " + string.Join(", ", allowed));
                ok = false;
                continue;
            }

            foreach (var value in entry.Values.Where(v => !allowed.Contains(v)))
            {
                Report(Diagnostics.InvalidPolicyValue, entry.ValueSpan, $"Operation {operation.Name}", value, entry.Key, (PolicyKeys.Lists.Contains(entry.Key) ? "any of " : "one of ") + string.Join(", ", allowed));
                ok = false;
            }
        }

        foreach (var key in PolicyKeys.Required.Where(k => !seen.ContainsKey(k)))
        {
            Report(Diagnostics.MissingPolicyKey, operation.Span, operation.Name, key, string.Join("|", PolicyKeys.Values[key]));
            ok = false;
        }

        foreach (var group in PolicyKeys.Groups.Where(g => g.Any(seen.ContainsKey)))
        {
            foreach (var key in group.Where(k => !seen.ContainsKey(k)))
            {
                Report(Diagnostics.MissingPolicyKey, operation.Span, operation.Name, key, string.Join("|", PolicyKeys.Values[key]));
                ok = false;
            }
        }

        ok &= CheckLockless(operation, seen);
        if (!ok)
        {
            return null;
        }

        var entries = PolicyKeys.Values.Keys
            .Where(key => seen.ContainsKey(key) || !PolicyKeys.IsGrouped(key))
            .Select(key => seen.TryGetValue(key, out var e)
                ? new ResolvedEntry(key, e.Values, e.Source!)
                : new ResolvedEntry(key, new[] { PolicyKeys.Defaults[key] }.ToEquatableArray(), "default"))
            .ToEquatableArray();
        return new OperationModel(operation.Name, operation.Title, Origin(operation.Span), entries);
    }

    /// <summary>
    /// <c>Lock None</c> is the RCU-only walk of aging (tdp_mmu.c __kvm_tdp_mmu_age_gfn_range,
    /// v6.15: guard(rcu) and no mmu_lock). The only SPTE write it makes is clearing Accessed
    /// (kvm_tdp_mmu_age_spte); every other write asserts mmu_lock (tdp_mmu_set_spte_atomic and
    /// tdp_mmu_zap_spte_atomic: lockdep_assert_held_read; tdp_mmu_set_spte: held for write), and
    /// with no lock there is none to drop, so it does not yield ("Don't support rescheduling").
    /// </summary>
    private bool CheckLockless(OperationDecl operation, Dictionary<string, PolicyEntry> seen)
    {
        if (!seen.TryGetValue("Lock", out var lockEntry) || lockEntry.Values.Count != 1 || lockEntry.Values[0] != "None")
        {
            return true;
        }

        var ok = true;
        if (seen.TryGetValue("Changes", out var changes))
        {
            foreach (var change in changes.Values.Where(c => c != "Accessed").Distinct())
            {
                Report(Diagnostics.ContradictoryPolicy, Later(lockEntry, changes).ValueSpan, operation.Name, $"Lock None (RCU only) with Changes {change}: without mmu_lock KVM only clears Accessed (kvm_tdp_mmu_age_spte); every other SPTE write holds mmu_lock (tdp_mmu_set_spte_atomic, tdp_mmu_zap_spte_atomic, tdp_mmu_set_spte)");
                ok = false;
            }
        }

        if (seen.TryGetValue("Yield", out var yield) && yield.Values.Count == 1 && yield.Values[0] != "No")
        {
            Report(Diagnostics.ContradictoryPolicy, Later(lockEntry, yield).ValueSpan, operation.Name, $"Lock None (RCU only) with Yield {yield.Values[0]}: yielding drops mmu_lock, which a lockless walk does not hold (__kvm_tdp_mmu_age_gfn_range does not reschedule); use Yield No");
            ok = false;
        }

        return ok;
    }

    /// <summary>Of two conflicting lines, the one a variant wrote if it wrote one, else the later: where the conflict was made.</summary>
    private PolicyEntry Later(PolicyEntry a, PolicyEntry b)
    {
        if (_variant is { } variant && variant.Paths.Contains(a.Span.Path) != variant.Paths.Contains(b.Span.Path))
        {
            return variant.Paths.Contains(a.Span.Path) ? a : b;
        }

        return string.CompareOrdinal(a.Span.Path, b.Span.Path) > 0 || (a.Span.Path == b.Span.Path && a.Span.Start > b.Span.Start) ? a : b;
    }

    /// <summary>
    /// A variant's <c>Exists No</c> removes the operation from its model, so any other key in the
    /// same block would be read by nobody: a block that removes an operation says only that. (In
    /// the base, the keys of an <c>Exists No</c> operation are the policy a variant that brings it
    /// back inherits, so there they are required.)
    /// </summary>
    private void CheckRemoval(OperationDecl operation)
    {
        if (operation.Entries.FirstOrDefault(e => e.Key == "Exists") is not { } exists || exists.Values.Count != 1 || exists.Values[0] != "No")
        {
            return;
        }

        foreach (var entry in operation.Entries.Where(e => e.Key != "Exists"))
        {
            Report(Diagnostics.ContradictoryPolicy, entry.Span, operation.Name, $"Exists No removes the operation from this model, so its {entry.Key} says nothing: remove the {entry.Key} line, or keep the operation (Exists Yes)");
        }
    }

    private readonly Dictionary<LayoutDecl, LayoutModel?> _checkedLayouts = [];

    private LayoutModel? CheckLayout(LayoutDecl layout)
    {
        if (_checkedLayouts.TryGetValue(layout, out var cached))
        {
            return cached;
        }

        var ok = !layout.Incomplete;
        var owner = new bool[64];
        var ownerField = new FieldDecl?[64];
        var names = new Dictionary<string, FieldDecl>(StringComparer.Ordinal);
        foreach (var field in layout.Fields)
        {
            var what = $"{layout.Name}.{field.DisplayName}";
            if (field.Source is null)
            {
                ok = false; // reported by the parser
            }

            if (field.Hi > 63 || field.Lo > 63)
            {
                Report(Diagnostics.BitsOutOfRange, field.Span, what, $"{field.Bits} go beyond bit 63 of a 64-bit entry");
                ok = false;
                continue;
            }

            if (field.Hi < field.Lo)
            {
                Report(Diagnostics.BitsOutOfRange, field.Span, what, $"the high bit {field.Hi} is below the low bit {field.Lo}; write high:low, e.g. {field.Lo}:{field.Hi}");
                ok = false;
                continue;
            }

            if (field.Name is { } name)
            {
                if (names.TryGetValue(name, out var first))
                {
                    Report(Diagnostics.Duplicate, field.Span, $"Field {layout.Name}.{name}", first.Span.Display);
                    ok = false;
                }
                else
                {
                    names[name] = field;
                }

                if (TakenByStruct(layout, name) is { } taken)
                {
                    Report(Diagnostics.InvalidName, field.Span, name, $"a field of {layout.Name}", taken);
                    ok = false;
                }
            }

            if (field.Kind == FieldKind.Enum)
            {
                ok &= CheckEnum(layout, field);
            }

            for (var bit = field.Lo; bit <= field.Hi; bit++)
            {
                if (owner[bit])
                {
                    var other = ownerField[bit]!;
                    Report(Diagnostics.Overlap, field.Span, what, field.Bits, $"{layout.Name}.{other.DisplayName}", other.Bits);
                    ok = false;
                    break;
                }
            }

            for (var bit = field.Lo; bit <= field.Hi; bit++)
            {
                owner[bit] = true;
                ownerField[bit] ??= field;
            }
        }

        // A gap beside a field already reported is that field's bits, not news.
        var reportGaps = ok;
        for (var bit = 0; bit < 64 && reportGaps; bit++)
        {
            if (owner[bit])
            {
                continue;
            }

            var hi = bit;
            while (hi < 63 && !owner[hi + 1])
            {
                hi++;
            }

            Report(Diagnostics.Gap, layout.Span, layout.Name, hi == bit ? $"bit {bit}" : $"bits {hi}:{bit}");
            ok = false;
            bit = hi;
        }

        var model = ok
            ? new LayoutModel(
                layout.Name,
                layout.Title,
                Origin(layout.Span),
                layout.Fields
                    .OrderByDescending(f => f.Lo)
                    .Select(f => new FieldModel(f.Kind, f.Name ?? "", f.Hi, f.Lo, f.Source!, f.Members.Select(m => new EnumMemberModel(m.Name, m.Value)).ToEquatableArray()))
                    .ToEquatableArray())
            : null;
        _checkedLayouts[layout] = model;
        return model;
    }

    /// <summary>
    /// Why a field name would collide with a member of the generated struct: the struct has
    /// Raw, ToString, Equals and GetHashCode, and for a field X the members XMask, XShift,
    /// XWidth and WithX, and C# forbids a member named as its type.
    /// </summary>
    private static string? TakenByStruct(LayoutDecl layout, string name)
    {
        if (name == "Layout")
        {
            return "the struct has its own Layout (its fields as data, for the model registry)";
        }

        if (name is "Raw" or "ToString" or "Equals" or "GetHashCode" or "GetType")
        {
            return $"the struct has its own {name}";
        }

        if (name == layout.Name)
        {
            return "a member cannot be named as the struct it is in";
        }

        if (name.EndsWith("Mask", StringComparison.Ordinal) || name.EndsWith("Shift", StringComparison.Ordinal) || name.EndsWith("Width", StringComparison.Ordinal))
        {
            return "the names Raw, *Mask, *Shift and *Width are taken by the generated struct";
        }

        if (name.StartsWith("With", StringComparison.Ordinal) && layout.Fields.Any(f => f.Name is { } other && "With" + other == name))
        {
            return $"With{name.Substring(4)} is the updater of field {name.Substring(4)}";
        }

        return null;
    }

    /// <summary>
    /// Every generated type shares one namespace, so two spec items must not generate the same
    /// type name; and each type is one generated file, whose names the compiler compares
    /// ignoring case (EptSpte and Eptspte would be one file, and the generator would fail).
    /// </summary>
    private void CheckTypeNames(IEnumerable<LayoutDecl> layouts, IEnumerable<ConstantsDecl> constants, IEnumerable<WalkerDecl> walkers)
    {
        var names = new Dictionary<string, (string Name, SourceSpan? Span)>(StringComparer.OrdinalIgnoreCase)
        {
            ["SpecModel"] = ("SpecModel", null),
            ["MmuPolicy"] = ("MmuPolicy", null),
            ["SpecModels"] = ("SpecModels", null),
            ["SpecModelNames"] = ("SpecModelNames", null),
        };
        var generated = layouts.SelectMany(l => new[] { (l.Name, l.Span) }.Concat(l.Fields.Where(f => f.Kind == FieldKind.Enum && f.Name is not null).Select(f => (l.Name + f.Name, f.Span))))
            .Concat(constants.Select(c => (c.Name, c.Span)))
            .Concat(walkers.SelectMany(w => new[] { (w.Name + "Walker", w.Span), (w.Name + "Iter", w.Span), (w.Name + "IterPath", w.Span) }));
        foreach (var (name, span) in generated.OrderBy(g => g.Span.Path, StringComparer.Ordinal).ThenBy(g => g.Span.Start))
        {
            if (names.TryGetValue(name, out var first))
            {
                var what = first.Name == name ? $"Generated type {name}" : $"Generated type {name} (its file name differs from {first.Name}'s only in case)";
                Report(Diagnostics.Duplicate, span, what, first.Span?.Display ?? $"the {first.Name} class SpecKit generates");
            }
            else
            {
                names[name] = (name, span);
            }
        }

        // A member named as its type does not compile (CS0542).
        foreach (var block in constants)
        {
            foreach (var value in block.Values.Where(v => v.Name == block.Name))
            {
                Report(Diagnostics.InvalidName, value.Span, value.Name, $"a value of Constants {block.Name}", "a member cannot be named as the class it is in");
            }

            foreach (var value in block.Values.Where(v => v.Name == "Values"))
            {
                Report(Diagnostics.InvalidName, value.Span, value.Name, $"a value of Constants {block.Name}", "the class has its own Values (the block's values as data, for the model registry)");
            }
        }
    }

    /// <summary>Names that become one generated file each must differ in more than case (see <see cref="CheckTypeNames"/>).</summary>
    private void CheckCaseCollisions<T>(IEnumerable<T> items, Func<T, string> name, Func<T, SourceSpan> span, string kind)
    {
        var seen = new Dictionary<string, T>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in items)
        {
            if (seen.TryGetValue(name(item), out var first) && name(first) != name(item))
            {
                Report(Diagnostics.Duplicate, span(item), $"{kind} {name(item)} (its file name differs from {name(first)}'s only in case)", span(first).Display);
            }
            else if (!seen.ContainsKey(name(item)))
            {
                seen[name(item)] = item;
            }
        }
    }

    private bool CheckEnum(LayoutDecl layout, FieldDecl field)
    {
        var ok = true;
        var seen = new Dictionary<string, EnumMemberDecl>(StringComparer.Ordinal);
        var width = field.Width;
        foreach (var member in field.Members)
        {
            if (width < 64 && member.Value >> width != 0)
            {
                Report(Diagnostics.EnumValueTooWide, member.Span, $"{layout.Name}.{field.Name}.{member.Name}", $"0x{member.Value:x}", width.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{layout.Name}.{field.Name} ({field.Bits})");
                ok = false;
            }

            if (seen.TryGetValue(member.Name, out var first))
            {
                Report(Diagnostics.Duplicate, member.Span, $"Enum member {layout.Name}.{field.Name}.{member.Name}", first.Span.Display);
                ok = false;
            }
            else
            {
                seen[member.Name] = member;
            }

            // Two names for one value: ToString and the snapshots would show only one of them.
            if (field.Members.TakeWhile(m => m != member).FirstOrDefault(m => m.Value == member.Value) is { } sameValue)
            {
                Report(Diagnostics.DuplicateValue, member.Span, $"{layout.Name}.{field.Name}.{member.Name}", $"0x{member.Value:x}", sameValue.Name, sameValue.Span.Display);
                ok = false;
            }
        }

        if (field.Members.Count == 0)
        {
            Report(Diagnostics.Syntax, field.Span, $"Enum {layout.Name}.{field.Name} names no values: list them as '<value> <Name>' lines before EndEnum");
            ok = false;
        }

        return ok;
    }

    private Dictionary<string, T> Collect<T>(IEnumerable<T> items, Func<T, string> name, Func<T, SourceSpan> span, string kind)
    {
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (result.TryGetValue(name(item), out var first))
            {
                Report(Diagnostics.Duplicate, span(item), $"{kind} {name(item)}", span(first).Display);
            }
            else
            {
                result[name(item)] = item;
            }
        }

        return result;
    }

    private void CheckValueNamesUnique(IEnumerable<ConstantsDecl> blocks)
    {
        var seen = new Dictionary<string, ValueDecl>(StringComparer.Ordinal);
        foreach (var value in blocks.SelectMany(b => b.Values))
        {
            if (seen.TryGetValue(value.Name, out var first))
            {
                Report(Diagnostics.Duplicate, value.Span, "Value " + value.Name, first.Span.Display);
            }
            else
            {
                seen[value.Name] = value;
            }
        }
    }

    internal void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, SourceSpan span, params string[] args)
    {
        var diagnostic = DiagnosticInfo.Create(descriptor, span, args);

        // Base items are checked again for every variant model; say each thing once.
        if (_diagnostics.Contains(diagnostic))
        {
            return;
        }

        // What only goes wrong in a variant's model is the variant's error: said in its file
        // (at the override that caused it, or its Variant line) and naming it.
        if (_variant is { } variant)
        {
            var at = variant.Paths.Contains(span.Path) ? span : variant.Relocations.TryGetValue(span, out var moved) ? moved : variant.Header.Span;
            var context = args.Contains(variant.Header.Name) ? null : $"Variant {variant.Header.Name}";
            var where = at == span ? "" : $", overriding {DisplayPath(span.Path)}:{span.Line + 1}";
            diagnostic = DiagnosticInfo.Create(descriptor, at, args) with { Context = context is null ? null : context + where };
            if (_diagnostics.Contains(diagnostic))
            {
                return;
            }
        }

        _diagnostics.Add(diagnostic);
    }

    private VariantContext? _variant;

    /// <summary>The variant being resolved: its files, and which base line each of its overrides replaced.</summary>
    private sealed class VariantContext(VariantHeader header, IEnumerable<string> paths)
    {
        public VariantHeader Header { get; } = header;

        public HashSet<string> Paths { get; } = new(paths, StringComparer.Ordinal);

        public Dictionary<SourceSpan, SourceSpan> Relocations { get; } = [];
    }

    internal static string Origin(SourceSpan span) => $"{DisplayPath(span.Path)}:{span.Line + 1}";

    /// <summary>The path from the <c>spec/</c> folder on, so generated code names no machine's directories.</summary>
    internal static string DisplayPath(string path)
    {
        var normalized = path.Replace('\\', '/');
        var at = normalized.LastIndexOf("/spec/", StringComparison.Ordinal);
        return at >= 0 ? normalized.Substring(at + 1) : normalized;
    }
}
