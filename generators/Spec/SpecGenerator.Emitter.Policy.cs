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

            w.Line("    ],");
            w.Line("    new global::System.Collections.Generic.Dictionary<string, global::SpecKit.Mmu.Policy.TdpRangeOp>");
            w.Line("    {");
            foreach (var name in unit.RangeOps)
            {
                w.Line($"        [{Literal(name)}] = TdpRangeOps.{name},");
            }

            w.Line("    });");
        }

        return w.ToString();
    }

    private static string Bool(EquatableArray<string> values) => values[0] == "Yes" ? "true" : "false";

    /// <summary>
    /// A leaf-rewriting range operation written out from its policy: the walk, what it matches,
    /// the bits it changes, what it records, and how it flushes and yields. Reading one of these
    /// files is reading the spec's Operation block as the loop the kernel writes by hand.
    /// </summary>
    // "Dirty" is the bit dirty tracking clears, which is W when the MMU has no A/D bits
    // (tdp_mmu.c clear_dirty_gfn_range: dbit), so it is the runtime's to say; the rest are layout bits.
    private static string ChangedBits(string change) => change == "Dirty" ? "mmu.DirtyBit" : $"EptSpte.{change}Mask";

    private static string EmitRangeOp(RangeOpUnit unit)
    {
        var op = unit.Operation;
        var e = op.Entries.ToDictionary(x => x.Key, x => x);
        var zap = e["Changes"].Values.Contains("Zap");
        var clear = string.Join(" | ", e["Changes"].Values.Where(c => c != "Zap").Select(ChangedBits));
        var flush = e["Flush"].Values[0];
        var w = Header(unit.Model, op.Origin, $"Operation {op.Name}, emitted from its policy");
        using (w.Block("public static partial class TdpRangeOps"))
        {
            w.Line($"/// <summary>{Xml(op.Title)}.</summary>");
            w.Line($"/// <returns>{(flush == "OnChange" ? "Whether a TLB flush is owed (it is the caller's to do)." : "Whether any SPTE changed.")}</returns>");
            using (w.Block($"public static bool {op.Name}(global::SpecKit.Mmu.Tdp.TdpMmu mmu, ulong start, ulong end, int minLevel, bool flush)"))
            {
                var tracksChange = flush != "OnChange";
                if (tracksChange)
                {
                    w.Line("var changed = false;");
                }

                using (w.Block("for (var iter = mmu.StartWalk(minLevel, start); iter.Valid && iter.Gfn < end; iter.Next())"))
                {
                    if (e["Yield"].Values[0] != "No")
                    {
                        w.Comment($"Yield {e["Yield"].Values[0]}: {e["Yield"].Source}");
                        using (w.Block($"if (mmu.CondResched(ref iter, MmuPolicy.{op.Name}, ref flush))"))
                        {
                            w.Line("continue;");
                        }

                        w.Line();
                    }

                    w.Comment($"Visits Leaves: {e["Visits"].Source}");
                    using (w.Block(zap ? "if (!iter.IsPresent || !iter.IsLast || iter.Level < minLevel)" : $"if (!iter.IsPresent || !iter.IsLast || iter.Level < minLevel || (iter.OldSpte & ({clear})) == 0)"))
                    {
                        w.Line("continue;");
                    }

                    w.Line();
                    w.Comment($"Changes {string.Join(" ", e["Changes"].Values)}: {e["Changes"].Source}");
                    w.Line(zap
                        ? $"mmu.SetSpte(ref iter, SpteValues.SHADOW_NONPRESENT_VALUE, {Literal(op.Name)});"
                        : $"mmu.SetSpte(ref iter, iter.OldSpte & ~({clear}), {Literal(op.Name)});");
                    if (tracksChange)
                    {
                        w.Line("changed = true;");
                    }

                    if (e["RecordsDirty"].Values[0] == "Yes")
                    {
                        w.Comment($"RecordsDirty Yes: {e["RecordsDirty"].Source}");
                        w.Line("mmu.MarkPageDirty(iter.Gfn);");
                    }

                    if (e["RecordsAccessed"].Values[0] == "Yes")
                    {
                        w.Comment($"RecordsAccessed Yes: {e["RecordsAccessed"].Source}");
                        w.Line("mmu.MarkPageAccessed(iter.Gfn);");
                    }

                    if (flush == "OnChange")
                    {
                        w.Comment($"Flush OnChange: {e["Flush"].Source}");
                        w.Line("flush = true;");
                    }
                }

                if (flush == "Always")
                {
                    w.Line();
                    w.Comment($"Flush Always: {e["Flush"].Source}");
                    using (w.Block("if (changed)"))
                    {
                        w.Line($"mmu.FlushRemoteTlbs({Literal(op.Name)});");
                    }
                }

                w.Line();
                w.Line(flush == "OnChange" ? "return flush;" : "return changed;");
            }
        }

        return w.ToString();
    }
}
