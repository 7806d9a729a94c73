using SpecKit.Features;
using SpecKit.Mmu.Kvm;
using SpecKit.Pictures;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// The pictures the snapshot steps attach to the run's messages (and so the HTML report): made
/// only when the run writes messages, so a run without them pays nothing.
/// </summary>
internal static class Pictures
{
    private const string Svg = "image/svg+xml";

    /// <summary>
    /// The SPTE tree the step snapshots; under SPECKIT_MODEL, beside the base model's tree (its
    /// verified snapshot) with the differences marked.
    /// </summary>
    public static void SpteTree(ScenarioContext context, Kvm kvm, string snapshot, string name)
    {
        if (!context.IsAttaching)
        {
            return;
        }

        var title = $"SPTEs under {context.ComparedModel ?? kvm.Model.Name} ({kvm.Mmu.Kind})";
        if (context.ComparedModel is { } model && context.VerifiedSnapshot(name) is { } baseline)
        {
            context.Attach(SptePicture.SideBySide(ModelSwitch.BaseModel + " (its snapshot)", baseline, model, snapshot, $"SPTEs: {ModelSwitch.BaseModel} and {model}"), Svg);
            return;
        }

        context.Attach(SptePicture.Render(snapshot, title), Svg);
    }

    public static void Log(ScenarioContext context, Kvm kvm)
    {
        if (context.IsAttaching)
        {
            context.Attach(EventLogPicture.Render(kvm.Log, $"The log under {context.ComparedModel ?? kvm.Model.Name}"), Svg);
        }
    }

    public static void DirtyBitmap(ScenarioContext context, int slot, ulong baseGfn, ulong npages, ulong[] bitmap)
    {
        if (context.IsAttaching)
        {
            context.Attach(DirtyBitmapPicture.Render(baseGfn, npages, bitmap, $"The dirty bitmap of memslot {slot}"), Svg);
        }
    }
}
