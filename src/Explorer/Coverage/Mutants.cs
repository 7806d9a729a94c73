using System.Text;
using SpecKit.Mmu.Policy;

namespace SpecKit.Explorer.Coverage;

public enum MutantKind
{
    /// <summary>One key line of an Operation block given another value (a list key: one value added or removed).</summary>
    Policy,

    /// <summary>Two fields of one width in a Layout trading places.</summary>
    LayoutSwap,
}

/// <summary>
/// One mutant of the spec: a variant (<see cref="VariantText"/>, named <see cref="Id"/>) that
/// changes one line of the base, at <see cref="File"/>:<see cref="Line"/>, from <see cref="From"/>
/// to <see cref="To"/>. <see cref="Note"/> is what the spec records about it, if anything.
/// </summary>
public sealed record Mutant(string Id, MutantKind Kind, string File, int Line, string Subject, string From, string To, string VariantText, CoverageNote? Note)
{
    public string Extension => Kind == MutantKind.Policy ? ".policy" : ".layout";

    /// <summary>
    /// The mutant as an edit of the base file itself (line number and new text, for a layout swap
    /// its two field lines): what a user's one-line edit of <see cref="File"/> would be, for the
    /// judges that read the base's generated types rather than a model (<see cref="KernelStage"/>).
    /// </summary>
    public IReadOnlyList<(int Line, string Text)> BaseEdit { get; init; } = [];

    /// <summary>The layout a swap changes (its Layout name), or null for a policy mutant.</summary>
    public string? Layout { get; init; }

    public override string ToString() => $"{File}:{Line} {Subject} {From} -> {To}";
}

/// <summary>
/// The mutants of a spec: for every key line of every base Operation, each other value its key
/// takes (for <c>Changes</c>, each value added or, where another stays, removed); for every base
/// Layout, each named field swapped with the next field of the same width.
/// </summary>
public static class Mutants
{
    /// <summary>
    /// The values each policy key takes: the runtime's own enums (src/Mmu/Policy/PolicyValues.cs,
    /// which the spec generator's PolicyKeys compiles in too), and the subsets FNAME(sync_spte) allows.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> KeyValues = new Dictionary<string, string[]>
    {
        ["Exists"] = ["Yes", "No"],
        ["Invocation"] = Enum.GetNames<Invocation>(),
        ["Lock"] = Enum.GetNames<MmuLock>(),
        ["Visits"] = Enum.GetNames<Visits>(),
        ["Changes"] = Enum.GetNames<SpteChange>().Where(n => n != nameof(SpteChange.None)).ToArray(),
        ["RecordsDirty"] = ["Yes", "No"],
        ["RecordsAccessed"] = ["Yes", "No"],
        ["Flush"] = Enum.GetNames<FlushPolicy>(),
        ["Yield"] = Enum.GetNames<YieldPolicy>(),
        ["RootFilter"] = Enum.GetNames<RootFilter>(),
        ["InvalidRoots"] = ["Included", "Excluded"],
        ["InvalidGpte"] = [nameof(SyncAction.Drop), nameof(SyncAction.Keep)],
        ["GfnChanged"] = [nameof(SyncAction.Drop), nameof(SyncAction.Keep)],
        ["AccessUnchanged"] = [nameof(SyncAction.Keep), nameof(SyncAction.Rebuild)],
        ["WriteAdded"] = Enum.GetNames<SyncAction>(),
        ["WriteRemoved"] = Enum.GetNames<SyncAction>(),
        ["OtherAccessChange"] = Enum.GetNames<SyncAction>(),
        ["RebuildAccessed"] = ["Yes", "No"],
        ["SpteWrite"] = Enum.GetNames<VolatileSpteWrite>(),
        ["BumpsSequence"] = ["Yes", "No"],
    };

    public static List<Mutant> Of(SpecLines.Spec spec) => [.. PolicyMutants(spec), .. LayoutSwaps(spec)];

    /// <summary>The control's name: <see cref="Control"/>.</summary>
    public const string ControlId = "Mut_Control_Unchanged";

    /// <summary>
    /// The control: a variant built and run as every mutant is, that restates the first key line
    /// of the base's policy with the value it has, so it is the base under another name. Whatever
    /// differs under it differs under every mutant for a reason that is not the mutated line; it
    /// is reported, and not counted as a kill of any mutant.
    /// </summary>
    public static Mutant Control(SpecLines.Spec spec)
    {
        var line = spec.Policy.First(p => p.Key != "Exists");
        var control = Policy(line, "Unchanged", line.Value, line.Value, null);
        return control with { Id = ControlId, VariantText = control.VariantText.Replace($"Mut_{line.Operation}_{line.Key}_Unchanged", ControlId, StringComparison.Ordinal) };
    }

    public static IEnumerable<Mutant> PolicyMutants(SpecLines.Spec spec)
    {
        foreach (var line in spec.Policy)
        {
            if (!KeyValues.TryGetValue(line.Key, out var values))
            {
                continue;
            }

            var note = spec.Notes.Where(n => n.Operation == line.Operation && n.Key == line.Key).ToList();
            if (line.Key != "Exists" && spec.Policy.FirstOrDefault(p => p.Operation == line.Operation && p.Key == "Exists" && p.Value == "No") is { } removed)
            {
                // The spec's own reason: the operation is gone from this kernel, so none of its other keys can decide anything.
                note.Insert(0, new CoverageNote(removed.File, removed.Line, line.Operation, false, line.Key, [], $"{line.Operation} is Exists No ({removed.Source}): nothing runs it, so its {line.Key} decides nothing"));
            }

            if (line.Key == "Changes")
            {
                foreach (var value in values)
                {
                    var present = line.Values.Contains(value);
                    if (present && line.Values.Count == 1)
                    {
                        continue; // Changes takes at least one value: removing the only one is no spec
                    }

                    var to = present ? line.Values.Where(v => v != value).ToList() : [.. line.Values, value];
                    var change = (present ? "-" : "+") + value;
                    yield return Policy(line, (present ? "Without" : "With") + value, change, string.Join(" ", to), note.FirstOrDefault(n => n.Covers(value)));
                }

                continue;
            }

            foreach (var value in values.Where(v => v != line.Value))
            {
                yield return Policy(line, value, value, value, note.FirstOrDefault(n => n.Covers(value)));
            }
        }
    }

    private static Mutant Policy(PolicyLine line, string idTail, string to, string newValues, CoverageNote? note)
    {
        var id = $"Mut_{line.Operation}_{line.Key}_{idTail}";
        var text = new StringBuilder()
            .Append("# spec coverage (speckit mutate): ").Append(line.File).Append(':').Append(line.Line).Append('\n')
            .Append("Variant ").Append(id).Append(" \"").Append(line.Subject).Append(' ').Append(line.Value).Append(" -> ").Append(to).Append("\"\n\n")
            .Append("# the Operation keeps its title, so that only the key line tells the mutant from the base\n")
            .Append("Operation ").Append(line.Operation).Append(" \"").Append(line.Title).Append("\"\n")
            .Append("  ").Append(line.Key).Append(' ').Append(newValues).Append(" \"mutant of ").Append(line.File).Append(':').Append(line.Line).Append("\"\n")
            .Append("EndOperation\n")
            .ToString();
        return new Mutant(id, MutantKind.Policy, line.File, line.Line, line.Subject, line.Value, to, text, note);
    }

    /// <summary>Each named field and the next one of its width in declared order, bits exchanged: a relabelling that only what pins a bit's place can tell.</summary>
    public static IEnumerable<Mutant> LayoutSwaps(SpecLines.Spec spec)
    {
        foreach (var layout in spec.Layouts)
        {
            foreach (var group in layout.Fields.GroupBy(f => f.Width))
            {
                var fields = group.ToList();
                for (var i = 0; i + 1 < fields.Count; i++)
                {
                    yield return Swap(layout, fields[i], fields[i + 1]);
                }
            }
        }
    }

    private static Mutant Swap(LayoutBlock layout, LayoutFieldLine a, LayoutFieldLine b)
    {
        var id = $"Mut_{layout.Name}_Swap_{a.Name}_{b.Name}";
        var text = new StringBuilder()
            .Append("# spec coverage (speckit mutate): ").Append(a.File).Append(':').Append(a.Line).Append(" and ").Append(b.Line).Append('\n')
            .Append("Variant ").Append(id).Append(" \"").Append(layout.Name).Append('.').Append(a.Name).Append(" and .").Append(b.Name).Append(" swap bits\"\n\n");
        for (var i = 0; i < layout.Text.Count; i++)
        {
            var number = layout.Line + i;
            var line = layout.Text[i];
            text.Append(number == a.Line ? WithBits(line, a.BitsText, b.BitsText) : number == b.Line ? WithBits(line, b.BitsText, a.BitsText) : line).Append('\n');
        }

        var lineA = WithBits(layout.Text[a.Line - layout.Line], a.BitsText, b.BitsText);
        var lineB = WithBits(layout.Text[b.Line - layout.Line], b.BitsText, a.BitsText);
        return new Mutant(id, MutantKind.LayoutSwap, a.File, a.Line, $"{layout.Name}.{a.Name}", $"{a.Name} {a.BitsText}, {b.Name} {b.BitsText} (line {b.Line})", $"{a.Name} {b.BitsText}, {b.Name} {a.BitsText}", text.ToString(), null)
        {
            BaseEdit = [(a.Line, lineA), (b.Line, lineB)],
            Layout = layout.Name,
        };
    }

    /// <summary>The line with its bits token (the second word) replaced, columns kept where the widths allow.</summary>
    private static string WithBits(string line, string from, string to)
    {
        var bits = SpecLines.Tokens(line)[1];
        var padded = to.Length < from.Length ? to.PadRight(from.Length) : to;
        return line[..bits.Column] + padded + line[(bits.Column + from.Length)..];
    }
}
