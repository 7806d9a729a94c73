namespace SpecKit.Generators.Spec.Model;

// The validated, resolved spec: what the emitter turns into code. These records carry
// no offsets, only "file:line" origins, so whitespace edits elsewhere in a spec file do
// not invalidate the cached output of an unchanged layout.

/// <summary>One model: the base spec, or the base with one variant laid over it.</summary>
internal sealed record ModelId(string Namespace, string? Variant, string Title);

internal sealed record LayoutModel(string Name, string Title, string Origin, EquatableArray<FieldModel> Fields);

internal sealed record FieldModel(FieldKind Kind, string Name, int Hi, int Lo, string Source, EquatableArray<EnumMemberModel> Members)
{
    public int Width => Hi - Lo + 1;

    public ulong Mask => (Width == 64 ? ulong.MaxValue : ((1UL << Width) - 1)) << Lo;

    public string Bits => Hi == Lo ? $"bit {Lo}" : $"bits {Hi}:{Lo}";
}

internal sealed record EnumMemberModel(string Name, ulong Value);

internal sealed record ConstantsModel(string Name, string Title, string Origin, EquatableArray<ValueModel> Values);

internal sealed record ValueModel(string Name, ulong Value, string Expression, string Source, string Origin);

internal sealed record WalkerModel(
    string Name,
    string Title,
    string Origin,
    int PageShift,
    int LevelBits,
    int MinRootLevel,
    int MaxRootLevel,
    BitRef Present,
    BitRef Huge,
    BitRef Address,
    EquatableArray<WalkerLevelModel> Levels,
    EquatableArray<string> Sources,
    bool EmitIterator);

/// <summary>A walker's reference to a layout field, resolved to its mask.</summary>
internal sealed record BitRef(string Text, ulong Mask, int Shift, string Source);

internal sealed record WalkerLevelModel(int Level, string Name, bool MayBeLeaf, string Source);

/// <summary>What the generator emits: one unit is one generated file.</summary>
internal abstract record EmitUnit(ModelId Model, string HintName);

/// <summary>
/// The model as a whole: its spec files, and the runtime's model registry entry, which names
/// each layout's and each Constants block's own descriptor (so a variant's entry repeats no
/// data of the base's, and an edit of a layout regenerates the layout's file and not this one).
/// </summary>
internal sealed record ModelInfoUnit(ModelId Model, EquatableArray<string> Files, EquatableArray<string> Layouts, EquatableArray<string> ConstantBlocks, EquatableArray<string> Formats, bool HasRules) : EmitUnit(Model, Hint(Model, "SpecModel"))
{
    public static string Hint(ModelId model, string name) =>
        (model.Variant is null ? "" : "Variants." + model.Variant + ".") + name + ".g.cs";
}

/// <summary>Every model's name, once, in the base namespace: for steps and build-time checks that name models.</summary>
internal sealed record ModelNamesUnit(ModelId Model, EquatableArray<string> Variants) : EmitUnit(Model, "SpecModelNames.g.cs");

/// <summary>One SPTE format's masks (a Format block), in the runtime's SpteMask order.</summary>
internal sealed record FormatModel(string Name, string Title, string Origin, EquatableArray<ValueModel> Masks);

internal sealed record FormatsUnit(ModelId Model, EquatableArray<FormatModel> Formats) : EmitUnit(Model, ModelInfoUnit.Hint(Model, "SpteFormats"));

/// <summary>Every model of the spec, for the registry <c>SpecModels.All</c> in the base namespace.</summary>
internal sealed record ModelIndexUnit(EquatableArray<ModelId> Models) : EmitUnit(Models[0], "SpecModels.g.cs");

/// <summary>A layout's struct; <paramref name="Describe"/>: with its fields as data for the runtime's model registry (a spec with policies).</summary>
internal sealed record LayoutUnit(ModelId Model, LayoutModel Layout, bool Describe) : EmitUnit(Model, ModelInfoUnit.Hint(Model, Layout.Name));

internal sealed record ConstantsUnit(ModelId Model, ConstantsModel Constants, bool Describe) : EmitUnit(Model, ModelInfoUnit.Hint(Model, Constants.Name));

internal sealed record WalkerUnit(ModelId Model, WalkerModel Walker) : EmitUnit(Model, ModelInfoUnit.Hint(Model, Walker.Name + "Walker"));

internal sealed record IterUnit(ModelId Model, WalkerModel Walker) : EmitUnit(Model, ModelInfoUnit.Hint(Model, Walker.Name + "Iter"));

/// <summary>The whole resolved spec: units to emit and every diagnostic, parse and semantic.</summary>
internal sealed record SpecSet(EquatableArray<EmitUnit> Units, EquatableArray<DiagnosticInfo> Diagnostics);
