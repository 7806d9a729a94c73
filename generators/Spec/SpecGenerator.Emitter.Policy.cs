using System.Collections.Generic;
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
            w.Line($"    Operation: global::SpecKit.Mmu.Policy.MmuOperation.{op.Name},");
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

            // The optional parts, each a list of lines; the last line of each gets its separator.
            var extras = new List<List<string>>();
            if (entries.TryGetValue("RootFilter", out var filter))
            {
                extras.Add([$"    Roots: new global::SpecKit.Mmu.Policy.RootPolicy(global::SpecKit.Mmu.Policy.RootFilter.{filter[0]}, IncludesInvalidRoots: {(entries["InvalidRoots"][0] == "Included" ? "true" : "false")})"]);
            }

            if (entries.ContainsKey("InvalidGpte"))
            {
                var sync = new List<string> { "    Sync: new global::SpecKit.Mmu.Policy.SyncSptePolicy(" };
                sync.AddRange(PolicyKeys.SyncKeys.Where(k => k != "RebuildAccessed").Select(k => $"        {k}: global::SpecKit.Mmu.Policy.SyncAction.{entries[k][0]},"));
                sync.Add($"        RebuildAccessed: {Bool(entries["RebuildAccessed"])})");
                extras.Add(sync);
            }

            if (entries.TryGetValue("SpteWrite", out var spteWrite))
            {
                extras.Add([$"    SpteWrite: global::SpecKit.Mmu.Policy.VolatileSpteWrite.{spteWrite[0]}"]);
            }

            if (entries.TryGetValue("BumpsSequence", out var bumps))
            {
                extras.Add([$"    BumpsSequence: {Bool(bumps)}"]);
            }

            if (entries.TryGetValue("AfterYield", out var afterYield))
            {
                extras.Add([$"    AfterYield: global::SpecKit.Mmu.Policy.YieldRestart.{afterYield[0]}"]);
            }

            if (entries.TryGetValue("InvalidSlot", out var invalidSlot))
            {
                extras.Add([$"    InvalidSlot: global::SpecKit.Mmu.Policy.InvalidSlotFault.{invalidSlot[0]}"]);
            }

            w.Line($"    Origin: {Literal(op.Origin)}{(extras.Count == 0 ? ");" : ",")}");
            for (var i = 0; i < extras.Count; i++)
            {
                for (var j = 0; j < extras[i].Count; j++)
                {
                    var last = j == extras[i].Count - 1;
                    w.Line(extras[i][j] + (!last ? "" : i == extras.Count - 1 ? ");" : ","));
                }
            }
        }

        return w.ToString();
    }

    /// <summary>
    /// The model's whole policy as the runtime takes it: one typed member per operation, so the
    /// runtime never looks a policy up by name.
    /// </summary>
    private static string EmitPolicyIndex(PolicyIndexUnit unit)
    {
        var w = Header(unit.Model, "spec/**/*.policy", "The MMU policy of this model");
        w.Line("/// <summary>The operation policies of this model: hand <see cref=\"Rules\"/> to the runtime to run it under them.</summary>");
        using (w.Block("public static partial class MmuPolicy"))
        {
            w.Line("public static readonly global::SpecKit.Mmu.Policy.MmuRules Rules = new()");
            w.Line("{");
            w.Line("    Model = SpecModel.Name,");
            foreach (var name in unit.Operations)
            {
                w.Line($"    {name} = {name},");
            }

            w.Line("};");
        }

        return w.ToString();
    }

    private static string Bool(EquatableArray<string> values) => values[0] == "Yes" ? "true" : "false";
}
