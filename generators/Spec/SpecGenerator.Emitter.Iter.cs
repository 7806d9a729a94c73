using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

internal static partial class SpecEmitter
{
    /// <summary>
    /// The iterator follows arch/x86/kvm/mmu/tdp_iter.c function by function, so a kernel
    /// reader can check it line against line; only the geometry comes from the spec.
    /// </summary>
    /// <summary>Every field of the iterator, as the slow path's copy takes them.</summary>
    private static readonly string[] IterFields =
    [
        "NextLastLevelGfn", "YieldedGfn", "PtPath", "SptepTable", "SptepIndex", "Gfn", "GfnBits", "RootLevel",
        "MinLevel", "Level", "OldSpte", "Valid", "Yielded", "_sideStepLimit", "_minLevelPages", "_tables",
    ];

    /// <summary>The fields a step (down, side, up, or a restart) can change, which the slow path's copy gives back.</summary>
    private static readonly string[] IterStepFields =
    [
        "NextLastLevelGfn", "YieldedGfn", "PtPath", "SptepTable", "SptepIndex", "Gfn", "Level", "OldSpte", "Valid",
        "Yielded", "_sideStepLimit",
    ];

    private static string EmitIter(IterUnit unit)
    {
        var walker = unit.Walker;
        var g = walker.Name + "Walker";
        var it = walker.Name + "Iter";
        var w = Header(unit.Model, walker.Origin, $"Walker {walker.Name} iterator (tdp_iter.c)");
        w.Line("/// <summary>");
        w.Line($"/// struct tdp_iter: a pre-order walk of the paging structure under one root, heading for");
        w.Line("/// <see cref=\"NextLastLevelGfn\"/>. Use it as the kernel's for_each_tdp_pte does:");
        w.Line($"/// <c>for (var iter = {it}.Start(...); iter.Valid &amp;&amp; iter.Gfn &lt; end; iter.Next())</c>.");
        w.Line("/// Upper-level entries whose range starts below the start GFN are visited too (the start is");
        w.Line("/// rounded down at each level), and after a yield the walk restarts from the root, so");
        w.Line("/// entries on the path are visited again: operations must be idempotent.");
        w.Line("/// </summary>");
        using (w.Block($"public struct {it}"))
        {
            w.Line("/// <summary>The GFN the walk is heading for; only a step to the side advances it.</summary>");
            w.Line("public ulong NextLastLevelGfn;");
            w.Line();
            w.Line("/// <summary><see cref=\"NextLastLevelGfn\"/> when the walk last (re)started: the forward-progress mark.</summary>");
            w.Line("public ulong YieldedGfn;");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// pt_path: the table at each level of the current walk, indexed by level - 1. Held inline, so");
            w.Line("/// that starting a walk allocates nothing (every fault starts one).");
            w.Line("/// </summary>");
            w.Line("public TablePath PtPath;");
            w.Line();
            w.Line("/// <summary>sptep: the current entry is <c>SptepTable[SptepIndex]</c>.</summary>");
            w.Line("public ulong[] SptepTable;");
            w.Line();
            w.Line("public int SptepIndex;");
            w.Line();
            w.Line("/// <summary>The lowest GFN the current entry maps.</summary>");
            w.Line("public ulong Gfn;");
            w.Line();
            w.Line("/// <summary>Bits ORed into the GFN to index the tables (the TDX shared bit for a mirrored VM's direct root).</summary>");
            w.Line("public ulong GfnBits;");
            w.Line();
            w.Line("public int RootLevel;");
            w.Line();
            w.Line("public int MinLevel;");
            w.Line();
            w.Line("public int Level;");
            w.Line();
            w.Line("/// <summary>The current entry as last read.</summary>");
            w.Line("public ulong OldSpte;");
            w.Line();
            w.Line("/// <summary>False once the walk has run off the end of the root table.</summary>");
            w.Line("public bool Valid;");
            w.Line();
            w.Line("/// <summary>Set when mmu_lock was dropped: the next <see cref=\"Next\"/> restarts from the root.</summary>");
            w.Line("public bool Yielded;");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Below this <see cref=\"SptepIndex\"/>, <see cref=\"Next\"/> is a step to the side at the lowest level:");
            w.Line($"/// {g}.EntriesPerTable - 1 at <see cref=\"MinLevel\"/>, -1 above it or after a yield. Kept up to date by");
            w.Line("/// every step that changes the level, so the common case tests one number.");
            w.Line("/// </summary>");
            w.Line("private int _sideStepLimit;");
            w.Line();
            w.Line("/// <summary>KVM_PAGES_PER_HPAGE(MinLevel): how far a step to the side at the lowest level moves <see cref=\"Gfn\"/>.</summary>");
            w.Line("private ulong _minLevelPages;");
            w.Line();
            w.Line("private global::SpecKit.Mmu.PageTables.PageTableStore _tables;");
            w.Line();
            w.Line("/// <summary>The current entry itself, for writes.</summary>");
            w.Line("public readonly ref ulong Sptep => ref SptepTable[SptepIndex];");
            w.Line();
            w.Line($"public readonly bool IsPresent => {g}.IsShadowPresent(OldSpte);");
            w.Line();
            w.Line($"public readonly bool IsLast => {g}.IsLastSpte(OldSpte, Level);");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// tdp_iter_start(): WARNs (here: throws <see cref=\"global::SpecKit.Mmu.KvmWarnException\"/>) on a missing root,");
            w.Line("/// a root level outside [1, MaxRootLevel], or a start GFN that already has the GFN bits set.");
            w.Line("/// </summary>");
            using (w.Block($"public static {it} Start(global::SpecKit.Mmu.PageTables.PageTableStore tables, ulong rootPfn, int rootLevel, int minLevel, ulong nextLastLevelGfn, ulong gfnBits = 0)"))
            {
                w.Line("global::SpecKit.Mmu.KvmWarn.On(!tables.Contains(rootPfn), \"tdp_iter_start: no root\");");
                w.Line($"global::SpecKit.Mmu.KvmWarn.On(rootLevel < 1 || rootLevel > {g}.MaxRootLevel, \"tdp_iter_start: root level out of range\");");
                w.Line("global::SpecKit.Mmu.KvmWarn.On(gfnBits != 0 && nextLastLevelGfn >= gfnBits, \"tdp_iter_start: start GFN already carries the GFN bits\");");
                w.Line($"var iter = new {it}");
                w.Line("{");
                w.Line("    _tables = tables,");
                w.Line("    NextLastLevelGfn = nextLastLevelGfn,");
                w.Line("    GfnBits = gfnBits,");
                w.Line("    RootLevel = rootLevel,");
                w.Line("    MinLevel = minLevel,");
                w.Line("    SptepTable = tables[rootPfn],");
                w.Line($"    _minLevelPages = {g}.PagesPerHpage(minLevel),");
                w.Line("};");
                w.Line("iter.PtPath[rootLevel - 1] = iter.SptepTable;");
                w.Line("iter.Restart();");
                w.Line("return iter;");
            }

            w.Line();
            w.Line("/// <summary>tdp_iter_restart(): back to the root, heading for <see cref=\"NextLastLevelGfn\"/> again.</summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("public void Restart()"))
            {
                w.Line("Yielded = false;");
                w.Line("YieldedGfn = NextLastLevelGfn;");
                w.Line("Level = RootLevel;");
                w.Line($"Gfn = {g}.GfnRoundForLevel(NextLastLevelGfn, Level);");
                w.Line("RefreshSptep();");
                w.Line("Valid = true;");
                w.Line("UpdateSideStepLimit();");
            }

            w.Line();
            w.Line("/// <summary>");
            w.Line("/// tdp_iter_next(): step down into a present non-leaf entry, else to the side, else up and");
            w.Line("/// to the side until the root table's last entry has been passed.");
            w.Line("/// </summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("public void Next()"))
            {
                w.Comment("The common case, kept small enough to inline into the caller's loop: at the lowest level");
                w.Comment("try_step_down() cannot succeed, so this is try_step_side() within the same table.");
                using (w.Block("if (SptepIndex < _sideStepLimit)"))
                {
                    w.Line("Gfn += _minLevelPages;");
                    w.Line("NextLastLevelGfn = Gfn;");
                    w.Line("SptepIndex++;");
                    w.Line("OldSpte = global::System.Runtime.CompilerServices.Unsafe.Add(ref global::System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(SptepTable), SptepIndex);");
                    w.Line("return;");
                }

                w.Line();
                w.Line("NextSlow();");
            }

            w.Line();
            w.Line("/// <summary>");
            w.Line("/// The rest of tdp_iter_next(), out of line and on a copy: a call on the caller's own iterator");
            w.Line("/// would take its address, and the JIT would then keep the whole walk in memory rather than in");
            w.Line("/// registers. Once per table at the lowest level, so the copy costs little.");
            w.Line("/// The copy goes out and comes back field by field (and back only what a step can change):");
            w.Line("/// copied as one block, wide loads read fields just stored one by one, which stalls on store");
            w.Line("/// forwarding, at every step of a fault's walk, whose iterator lives in memory.");
            w.Line("/// </summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("private void NextSlow()"))
            {
                w.Line($"{it} iter = default;");
                foreach (var field in IterFields)
                {
                    w.Line($"iter.{field} = {field};");
                }

                w.Line("iter.StepDownSideOrUp();");
                foreach (var field in IterStepFields)
                {
                    w.Line($"{field} = iter.{field};");
                }
            }

            w.Line();
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]");
            using (w.Block("private void StepDownSideOrUp()"))
            {
                using (w.Block("if (Yielded)"))
                {
                    w.Line("Restart();");
                    w.Line("return;");
                }

                w.Line();
                using (w.Block("if (!TryStepDown())"))
                {
                    using (w.Block("while (!TryStepSide())"))
                    {
                        using (w.Block("if (!TryStepUp())"))
                        {
                            w.Line("Valid = false;");
                            w.Line("break;");
                        }
                    }
                }

                w.Line();
                w.Line("UpdateSideStepLimit();");
            }

            w.Line();
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            w.Line($"private void UpdateSideStepLimit() => _sideStepLimit = Level == MinLevel && !Yielded ? {g}.EntriesPerTable - 1 : -1;");

            w.Line();
            w.Line("/// <summary>");
            w.Line("/// tdp_mmu_iter_need_resched()'s forward-progress test: yielding again before the walk has");
            w.Line("/// stepped past the GFN it restarted at could livelock, so it is refused.");
            w.Line("/// </summary>");
            w.Line("public readonly bool CanYield => NextLastLevelGfn != YieldedGfn;");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// The caller dropped mmu_lock (tdp_mmu_iter_cond_resched()). The caller must have flushed any");
            w.Line("/// pending TLB flush first, and must 'continue' its loop: the next <see cref=\"Next\"/> restarts.");
            w.Line("/// </summary>");
            using (w.Block("public void Yield()"))
            {
                w.Line("global::SpecKit.Mmu.KvmWarn.On(Yielded, \"tdp_mmu_iter_cond_resched: already yielded\");");
                w.Line("global::SpecKit.Mmu.KvmWarn.On(!CanYield, \"tdp_mmu_iter_cond_resched: yield without forward progress\");");
                w.Line("global::SpecKit.Mmu.KvmWarn.On(Gfn > NextLastLevelGfn, \"tdp_mmu_iter_cond_resched: gfn beyond next_last_level_gfn\");");
                w.Line("Yielded = true;");
                w.Line("UpdateSideStepLimit();");
            }

            w.Line();
            w.Line("/// <summary>tdp_iter_refresh_sptep(): recompute the entry from the table at this level and re-read it.</summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("private void RefreshSptep()"))
            {
                w.Line("SptepTable = PtPath[Level - 1];");
                w.Line($"SptepIndex = {g}.SpteIndex(Gfn | GfnBits, Level);");
                w.Line("OldSpte = SptepTable[SptepIndex];");
            }

            w.Line();
            w.Line("/// <summary>try_step_down(): re-read the entry first, so a table unlinked meanwhile is not followed.</summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("private bool TryStepDown()"))
            {
                using (w.Block("if (Level == MinLevel)"))
                {
                    w.Line("return false;");
                }

                w.Line();
                w.Line("OldSpte = SptepTable[SptepIndex];");
                using (w.Block($"if (!{g}.IsShadowPresent(OldSpte) || {g}.IsLastSpte(OldSpte, Level))"))
                {
                    w.Line("return false;");
                }

                w.Line();
                w.Line("Level--;");
                w.Line($"PtPath[Level - 1] = _tables[{g}.SpteToPfn(OldSpte)];");
                w.Line($"Gfn = {g}.GfnRoundForLevel(NextLastLevelGfn, Level);");
                w.Line("RefreshSptep();");
                w.Line("return true;");
            }

            w.Line();
            w.Line("/// <summary>try_step_side(): the next entry in this table, unless this was the last one.</summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("private bool TryStepSide()"))
            {
                using (w.Block($"if (SptepIndex == {g}.EntriesPerTable - 1)"))
                {
                    w.Line("return false;");
                }

                w.Line();
                w.Line($"Gfn += {g}.PagesPerHpage(Level);");
                w.Line("NextLastLevelGfn = Gfn;");
                w.Line("SptepIndex++;");
                w.Line("OldSpte = SptepTable[SptepIndex];");
                w.Line("return true;");
            }

            w.Line();
            w.Line("/// <summary>try_step_up(): back to the parent entry, unless this is the root.</summary>");
            w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
            using (w.Block("private bool TryStepUp()"))
            {
                using (w.Block("if (Level == RootLevel)"))
                {
                    w.Line("return false;");
                }

                w.Line();
                w.Line("Level++;");
                w.Line($"Gfn = {g}.GfnRoundForLevel(Gfn, Level);");
                w.Line("RefreshSptep();");
                w.Line("return true;");
            }

            w.Line();
            w.Line("/// <summary>One table per level, root first at index RootLevel - 1: the storage of <see cref=\"PtPath\"/>.</summary>");
            w.Line($"[global::System.Runtime.CompilerServices.InlineArray({g}.MaxRootLevel)]");
            using (w.Block("public struct TablePath"))
            {
                w.Line("private ulong[] _table;");
            }
        }

        return w.ToString();
    }
}
