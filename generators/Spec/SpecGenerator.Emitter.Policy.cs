using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

internal static partial class SpecEmitter
{
    /// <summary>One operation's policy as a static field of <c>MmuPolicy</c>, each value with the line that justifies it.</summary>
    private static string EmitOperation(OperationUnit unit)
    {
        var op = unit.Operation;
        var w = Header(unit.Model, op.Origin, $"Operation {op.Name} policy");
        using (w.Block("public static partial class MmuPolicy"))
        {
            w.Line($"/// <summary>{Xml(op.Title)}.</summary>");
            w.Line("/// <remarks>");
            foreach (var entry in op.Entries)
            {
                w.Line($"/// {entry.Key}: {string.Join(" ", entry.Values)} ({Xml(entry.Source)})<br/>");
            }

            w.Line("/// </remarks>");
            w.Line($"public static readonly global::SpecKit.Mmu.Policy.OperationPolicy {op.Name} = new(");
            w.Line($"    Name: {Literal(op.Name)},");
            w.Line($"    Title: {Literal(op.Title)},");
            var entries = op.Entries.ToDictionary(e => e.Key, e => e.Values);
            w.Line($"    Exists: {Bool(entries["Exists"])},");
            w.Line($"    Invocation: global::SpecKit.Mmu.Policy.Invocation.{entries["Invocation"][0]},");
            w.Line($"    Lock: global::SpecKit.Mmu.Policy.MmuLock.{entries["Lock"][0]},");
            w.Line($"    Visits: global::SpecKit.Mmu.Policy.Visits.{entries["Visits"][0]},");
            w.Line($"    Changes: {string.Join(" | ", entries["Changes"].Select(c => "global::SpecKit.Mmu.Policy.SpteChange." + c))},");
            w.Line($"    RecordsDirty: {Bool(entries["RecordsDirty"])},");
            w.Line($"    RecordsAccessed: {Bool(entries["RecordsAccessed"])},");
            w.Line($"    Flush: global::SpecKit.Mmu.Policy.FlushPolicy.{entries["Flush"][0]},");
            w.Line($"    Yield: global::SpecKit.Mmu.Policy.YieldPolicy.{entries["Yield"][0]},");
            w.Line($"    Origin: {Literal(op.Origin)});");
        }

        return w.ToString();
    }

    /// <summary>The model's whole policy, so the runtime can be handed one model's rules at once.</summary>
    private static string EmitPolicyIndex(PolicyIndexUnit unit)
    {
        var w = Header(unit.Model, "spec/**/*.policy", "The MMU policy of this model");
        w.Line("/// <summary>The operation policies of this model: hand <see cref=\"Rules\"/> to the runtime to run it under them.</summary>");
        using (w.Block("public static partial class MmuPolicy"))
        {
            w.Line("public static readonly global::SpecKit.Mmu.Policy.MmuRules Rules = new(");
            w.Line("    SpecModel.Name,");
            w.Line("    [");
            foreach (var name in unit.Operations)
            {
                w.Line($"        {name},");
            }

            w.Line("    ]);");
        }

        return w.ToString();
    }

    private static string Bool(EquatableArray<string> values) => values[0] == "Yes" ? "true" : "false";
}
