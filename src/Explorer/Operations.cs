using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Shadow;
using SpecKit.Mmu.Tdp;
using SpecKit.Uapi;
using GuestAccess = SpecKit.Mmu.Guest.GuestAccess;
using GuestAccessKind = SpecKit.Mmu.Guest.GuestAccessKind;
using static SpecKit.Explorer.VmSetup;

namespace SpecKit.Explorer;

/// <summary>
/// One thing userspace, the host or the guest can do to a VM, as a value: generated, shrunk,
/// compared, printed. Each operation does on the model exactly what the feature step it prints
/// does (tests/Behaviour/Steps: the same calls in the same order), so a printed sequence is the
/// same run. Operations name memslots by id and pages by offset into the slot, so that a
/// sequence stays meaningful while slots move and shrinking drops steps; an operation whose
/// slot is gone does nothing and prints nothing (<see cref="Apply"/> returns null). Yield points
/// are operations' arguments (mmu_lock contended at a gfn, a host event between a fault's PFN
/// lookup and its mmu_lock, a guest store before KVM injects a #PF), chosen by the generator.
/// </summary>
public abstract record Operation
{
    /// <summary>Runs the operation; the step it is, or null when it does not apply to the VM as it is now.</summary>
    public abstract Step? Apply(Machine m);

    protected static Step When(Machine m, string text, string observation = "") => m.Begin(new Step("When", text, observation));

    protected static Step Then(Machine m, string text, string observation = "") => m.Begin(new Step("Then", text, observation));

    /// <summary>The gfn at <paramref name="offset"/> into memslot <paramref name="slot"/>, or null when there is no such slot.</summary>
    protected static ulong? GfnOf(Machine m, int slot, ulong offset) => m.Kvm.SlotById(slot) is { } s ? s.BaseGfn + (offset % s.Npages) : null;

    /// <summary>[start, end) from <paramref name="offset"/> for up to <paramref name="count"/> pages, inside memslot <paramref name="slot"/>.</summary>
    protected static (ulong Start, ulong End)? Range(Machine m, int slot, ulong offset, ulong count)
    {
        if (m.Kvm.SlotById(slot) is not { } s)
        {
            return null;
        }

        var start = s.BaseGfn + (offset % s.Npages);
        return (start, Math.Min(start + Math.Max(count, 1), s.EndGfn));
    }

    protected static int VcpuOf(Machine m, int vcpu) => vcpu % m.Kvm.Vcpus.Count;

    /// <summary>
    /// The vCPU an access runs on, or null while it is paused: KVM_RUN on a paused vCPU is not
    /// something userspace does, so the operation waits for a resume.
    /// </summary>
    protected static int? RunningVcpu(Machine m, int vcpu) => VcpuOf(m, vcpu) is var v && !m.Kvm.Vcpus[v].Paused ? v : null;

    protected static string Errno(int result) => new KvmResult(result).ToString();

    protected static string Verb(AccessKind access) => access switch
    {
        AccessKind.Write => "writes gfn",
        AccessKind.Fetch => "fetches from gfn",
        _ => "reads gfn",
    };

    protected static string Word(AccessKind access) => access.ToString().ToLowerInvariant();

    protected static string Pfn(ulong? pfn) => pfn is { } p ? $"pfn {Hex(p)}" : "no page (exit)";
}

// ---- vCPUs: guest frames (kvm_mmu_page_fault, kvm_vcpu_read/write_guest) ----

/// <summary>A vCPU reads, writes or fetches a page of a memslot (VmSteps.Reads/Writes/Fetches).</summary>
public sealed record Touch(int Vcpu, int Slot, ulong Offset, AccessKind Access) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (GfnOf(m, Slot, Offset) is not { } gfn)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var step = When(m, $"vCPU {v} {Verb(Access)} {Hex(gfn)}");
        return step with { Observation = Pfn(m.Kvm.Access(m.Vcpu(v), gfn, Access)) };
    }
}

/// <summary>A vCPU touches any gfn, in a memslot or not (MMIO, another slot).</summary>
public sealed record StrayTouch(int Vcpu, ulong Gfn, AccessKind Access) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        // Under shadow paging the guest reaches a gfn through its direct map: one outside it is
        // the guest's own #PF, which the feature step does not take.
        if (m.Guest is { } guest && !guest.DirectlyMaps(Gfn))
        {
            return null;
        }

        var step = When(m, $"vCPU {v} {Verb(Access)} {Hex(Gfn)}");
        return step with { Observation = Pfn(m.Kvm.Access(m.Vcpu(v), Gfn, Access)) };
    }
}

/// <summary>A vCPU stores a value to a word of a page (FaultSteps.RunsStore): the data oracle's input.</summary>
public sealed record Store(int Vcpu, int Slot, ulong Offset, int WordIndex, long Value) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (GfnOf(m, Slot, Offset) is not { } gfn)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var gpa = (gfn << 12) + ((ulong)(WordIndex & 511) << 3);
        var step = When(m, $"vCPU {v} runs a store of {Hex((ulong)Value)} to gpa {Hex(gpa)}");
        return step with { Observation = m.Kvm.WriteGuest(m.Vcpu(v), gpa, (ulong)Value) ? "stored" : $"not completed ({m.Kvm.Vcpus[v].LastExit})" };
    }
}

/// <summary>A vCPU loads a word (VmSteps.Load); what it read is the observation, and the data oracle checks it.</summary>
public sealed record Load(int Vcpu, int Slot, ulong Offset, int WordIndex) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (GfnOf(m, Slot, Offset) is not { } gfn)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var gpa = (gfn << 12) + ((ulong)(WordIndex & 511) << 3);
        var step = When(m, $"vCPU {v} loads from gpa {Hex(gpa)}");
        var value = m.Kvm.ReadGuest(m.Vcpu(v), gpa);
        return step with
        {
            Observation = value is { } x ? Hex(x) : "did not complete",
            Expect = other => other == "did not complete" ? "the load did not complete" : $"the load returned {other}",
        };
    }
}

/// <summary>Userspace answers a vCPU's pending KVM_EXIT_MMIO read (complete_emulated_mmio).</summary>
public sealed record AnswerMmio(int Vcpu, ulong Data) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        if (m.Kvm.Vcpus[v].LastMmio is not { IsWrite: false })
        {
            return null;
        }

        var step = When(m, $"userspace answers vCPU {v}'s MMIO read with {Hex(Data)}");
        return step with { Observation = Hex(m.Kvm.CompleteMmioRead(m.Kvm.Vcpus[v], Data) ?? 0) };
    }
}

/// <summary>Userspace pauses or resumes every vCPU (a ring entry pushed while none runs has no vCPU).</summary>
public sealed record PauseVcpus(bool Paused) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (Paused && (m.Kvm.WhileUnlocked.Count > 0 || m.Kvm.BeforeFaultTakesLock.Count > 0))
        {
            // A vCPU access is still queued at a yield point: its vCPU is running, not paused.
            return null;
        }

        var step = When(m, Paused ? "all vCPUs are paused" : "all vCPUs are resumed");
        foreach (var vcpu in m.Kvm.Vcpus)
        {
            vcpu.Paused = Paused;
        }

        m.Kvm.Log.Add(Paused ? "all vCPUs paused" : "all vCPUs resumed");
        return step;
    }
}

// ---- the host: the primary MMU's events through the MMU notifier ----

/// <summary>A host event on one page: KSM merge, migration, mprotect(PROT_READ).</summary>
public sealed record HostPageEvent(int Slot, ulong Offset, HostEvent Event) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (GfnOf(m, Slot, Offset) is not { } gfn || m.UserPage(gfn) is not { } hvpn)
        {
            return null;
        }

        switch (Event)
        {
            case HostEvent.KsmMerge:
                var ksm = When(m, $"KSM merges the page behind gfn {Hex(gfn)}");
                m.Kvm.KsmMerge(hvpn);
                return ksm;
            case HostEvent.Migrate:
                var migrate = When(m, $"the host migrates the page behind gfn {Hex(gfn)}");
                m.Kvm.Migrate(hvpn, hvpn + 1);
                return migrate;
            case HostEvent.MprotectReadOnly when !m.Booted:
                return null;
            default:
                var mprotect = When(m, $"the host makes the page behind gfn {Hex(gfn)} read-only");
                m.Kvm.MprotectReadOnly(hvpn);
                return mprotect;
        }
    }
}

public enum HostEvent
{
    KsmMerge,
    Migrate,
    MprotectReadOnly,
}

/// <summary>The host swaps out or munmaps a range of one memslot's pages.</summary>
public sealed record HostRangeEvent(int Slot, ulong Offset, ulong Count, bool Munmap) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (Range(m, Slot, Offset, Count) is not var (start, end) || m.UserPages(start, end) is not var (hStart, hEnd) || (Munmap && !m.Booted))
        {
            // A shadow-paging guest lays out its tables in its RAM before it runs: a VMM that
            // unmaps that RAM first has no guest to boot.
            return null;
        }

        var step = When(m, $"the host {(Munmap ? "munmaps" : "swaps out")} gfns [{Hex(start)}, {Hex(end)})");
        if (Munmap)
        {
            m.Kvm.Munmap(hStart, hEnd);
        }
        else
        {
            m.Kvm.SwapOut(hStart, hEnd);
        }

        return step;
    }
}

/// <summary>The mm goes away (.release: kvm_flush_shadow_all).</summary>
public sealed record ReleaseMm : Operation
{
    public override Step? Apply(Machine m)
    {
        var step = When(m, "the process's mm is released");
        m.Kvm.Release();
        return step;
    }
}

/// <summary>
/// A yield point: the host migrates the page between the fault's PFN lookup and its mmu_lock
/// (VmSteps.MigrateDuringFault), so the fault must see mmu_invalidate_retry_gfn and retry.
/// </summary>
public sealed record RacedFault(int Vcpu, int Slot, ulong Offset, AccessKind Access) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (GfnOf(m, Slot, Offset) is not { } gfn || m.UserPage(gfn) is not { } hvpn)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var step = When(m, $"the host migrates the page behind gfn {Hex(gfn)} while vCPU {v} faults on it for a {Word(Access)}");
        m.Kvm.BeforeFaultTakesLock.Enqueue(() => m.Kvm.Migrate(hvpn, hvpn + 1));
        m.Kvm.Access(m.Vcpu(v), gfn, Access);
        return step;
    }
}

/// <summary>
/// A yield point: the host swaps out a range while mmu_lock is contended at one gfn, and a vCPU
/// reads a page while the zap has dropped the lock (VmSteps.SwapOutContended; tdp_mmu_iter_cond_resched).
/// </summary>
public sealed record ContendedSwapOut(int Slot, ulong Offset, ulong Count, ulong YieldAt, int Vcpu, int ReadSlot, ulong ReadOffset) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (Range(m, Slot, Offset, Count) is not var (start, end) || m.UserPages(start, end) is not var (hStart, hEnd) || GfnOf(m, ReadSlot, ReadOffset) is not { } read)
        {
            return null;
        }

        var contended = start + (YieldAt % (end - start));
        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var step = When(m, $"the host swaps out gfns [{Hex(start)}, {Hex(end)}) with mmu_lock contended at gfn {Hex(contended)}, while vCPU {v} reads gfn {Hex(read)}");
        var reader = m.Vcpu(v);
        m.Kvm.Contention.At(contended);
        m.Kvm.WhileUnlocked.Enqueue(() => m.Kvm.Access(reader, read, AccessKind.Read));
        m.Kvm.SwapOut(hStart, hEnd);
        return step;
    }
}

/// <summary>The primary MMU ages a range (clear_young, clear_flush_young) or asks test_young.</summary>
public sealed record Age(int Slot, ulong Offset, ulong Count, AgingNotifier Notifier) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (Range(m, Slot, Offset, Count) is not var (start, end) || m.UserPages(start, end) is not var (hStart, hEnd))
        {
            return null;
        }

        var range = $"gfns [{Hex(start)}, {Hex(end)})";
        if (Notifier == AgingNotifier.TestYoung)
        {
            var probe = Then(m, "");
            var young = m.Kvm.Age(hStart, hEnd, AgingNotifier.TestYoung) ? "young" : "old";
            return probe with { Text = $"test_young finds {range} {young}", Observation = young, Expect = other => $"test_young finds {range} {other}" };
        }

        var step = When(m, $"the primary MMU ages {range} with {Notifier.Name()}");
        return step with { Observation = m.Kvm.Age(hStart, hEnd, Notifier) ? "young" : "old" };
    }
}

// ---- dirty logging: KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, the ring ----

/// <summary>KVM_GET_DIRTY_LOG, or GET then KVM_CLEAR_DIRTY_LOG of what it returned (DirtyLogSteps.Fetch/FetchAndClear).</summary>
public sealed record GetDirtyLog(int Slot, bool AndClear) : Operation
{
    public override Step? Apply(Machine m)
    {
        var step = When(m, $"the dirty log of memslot {Slot} is fetched{(AndClear ? " and cleared" : "")}");
        var result = m.Kvm.GetDirtyLog((uint)Slot, out var bitmap);
        if (result != 0)
        {
            return step with { Keyword = "Then", Text = $"KVM_GET_DIRTY_LOG on memslot {Slot} returns {Errno(result)}", Observation = Errno(result) };
        }

        var slot = m.Kvm.Slot(Slot);
        var ranges = Kvm.DirtyRanges(slot.BaseGfn, bitmap);
        var fetched = step with { Observation = ranges, Expect = other => $"the fetch reports {other}" };
        if (!AndClear)
        {
            return fetched;
        }

        var cleared = m.Kvm.ClearDirtyLog((uint)Slot, 0, slot.Npages, bitmap);
        return cleared == 0 ? fetched : fetched with { Observation = $"{ranges}; CLEAR {Errno(cleared)}", Printable = false };
    }
}

/// <summary>KVM_CLEAR_DIRTY_LOG over any range with every bit set (DirtyLogSteps.ClearReturns).</summary>
public sealed record ClearDirtyLog(int Slot, ulong First, ulong Count) : Operation
{
    public override Step? Apply(Machine m)
    {
        var step = When(m, "");
        var bits = Enumerable.Repeat(ulong.MaxValue, (int)((Count + 63) / 64) + 1).ToArray();
        var result = Errno(m.Kvm.ClearDirtyLog((uint)Slot, First, Count, bits));
        return step with { Text = $"KVM_CLEAR_DIRTY_LOG on memslot {Slot} from page {First} for {Count} pages returns {result}", Observation = result };
    }
}

/// <summary>Userspace harvests the rings, resets them, or both (DirtyLogSteps.Collect, ResetCount, CollectAndReset).</summary>
public sealed record CollectDirtyRings(bool Harvest, bool Reset) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Kvm.DirtyRing is null)
        {
            var refused = Then(m, "");
            var result = Errno(m.Kvm.ResetDirtyRings());
            return refused with { Text = $"KVM_RESET_DIRTY_RINGS returns {result}", Observation = result };
        }

        if (Harvest && Reset)
        {
            var step = When(m, "the dirty rings are collected and reset");
            var entries = m.Kvm.HarvestDirtyRings();
            var reset = m.Kvm.ResetDirtyRings();
            return step with { Observation = Describe(entries), Printable = reset == entries.Count };
        }

        if (Harvest)
        {
            var step = When(m, "the dirty rings are collected");
            return step with { Observation = Describe(m.Kvm.HarvestDirtyRings()) };
        }

        var resetOnly = When(m, "");
        var count = m.Kvm.ResetDirtyRings();
        return resetOnly with { Text = $"KVM_RESET_DIRTY_RINGS resets {count} entries", Observation = count.ToString(System.Globalization.CultureInfo.InvariantCulture), Printable = count >= 0 };
    }

    private static string Describe(List<KvmDirtyGfn> entries) =>
        entries.Count == 0 ? "nothing" : string.Join(", ", entries.Select(e => $"slot {e.Slot} offset {Hex(e.Offset)}"));
}

// ---- memslots: KVM_SET_USER_MEMORY_REGION with any geometry ----

/// <summary>Userspace maps fresh 4K-backed memory and makes a memslot over it (VmSteps.AMemslot, or CreateReturns for an errno).</summary>
public sealed record CreateSlot(int Slot, ulong BaseGfn, ulong Npages) : Operation
{
    public override Step? Apply(Machine m)
    {
        var step = When(m, $"memslot {Slot} maps {Npages} pages at gfn {Hex(BaseGfn)} with 4K host pages");
        var result = m.Kvm.CreateMemslot(Slot, BaseGfn, Npages, MemoryRegionFlags.None, 1);
        return result == 0 ? step : step with { Keyword = "Then", Text = $"creating memslot {Slot} with {Npages} pages at gfn {Hex(BaseGfn)} returns {Errno(result)}", Observation = Errno(result) };
    }
}

/// <summary>KVM_SET_USER_MEMORY_REGION with size 0 (VmSteps.DeleteSlot, or DeleteReturns).</summary>
public sealed record DeleteSlot(int Slot) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Guest is not null && Slot == 0)
        {
            // The shadow-paging guest's page tables live in slot 0; a root gfn no memslot holds
            // needs mmu_alloc_shadow_roots' dummy root (kvm_mmu_get_dummy_root), which the model lacks.
            return null;
        }

        var step = When(m, $"memslot {Slot} is deleted");
        var result = m.Kvm.DeleteMemslot(Slot);
        return result == 0 ? step : step with { Keyword = "Then", Text = $"deleting memslot {Slot} returns {Errno(result)}", Observation = Errno(result) };
    }
}

/// <summary>KVM_MR_MOVE to any base (VmSteps.MoveSlot, or MoveReturns).</summary>
public sealed record MoveSlot(int Slot, ulong BaseGfn) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Guest is not null && Slot == 0)
        {
            // The shadow-paging guest's page tables live in slot 0; a root gfn no memslot holds
            // needs mmu_alloc_shadow_roots' dummy root (kvm_mmu_get_dummy_root), which the model lacks.
            return null;
        }

        var step = When(m, $"memslot {Slot} is moved to gfn {Hex(BaseGfn)}");
        var result = m.Kvm.MoveMemslot(Slot, BaseGfn);
        return result == 0 ? step : step with { Keyword = "Then", Text = $"moving memslot {Slot} to gfn {Hex(BaseGfn)} returns {Errno(result)}", Observation = Errno(result) };
    }
}

/// <summary>KVM_MEM_LOG_DIRTY_PAGES flipped on an existing slot (VmSteps.EnableLogging/DisableLogging).</summary>
public sealed record ToggleLogging(int Slot) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Kvm.SlotById(Slot) is not { } slot)
        {
            return null;
        }

        var step = When(m, $"dirty logging is {(slot.DirtyTracked ? "disabled" : "enabled")} on memslot {Slot}");
        var result = m.Kvm.SetMemslotFlags(Slot, slot.Flags ^ MemoryRegionFlags.LogDirtyPages);
        return step with { Observation = Errno(result), Printable = result == 0 };
    }
}

/// <summary>kvm_write_track_add_gfn / kvm_write_track_remove_gfn (FaultSteps.WriteTrack/WriteUntrack).</summary>
public sealed record WriteTrack(int Slot, ulong Offset, bool Add) : Operation
{
    public override Step? Apply(Machine m)
    {
        // External write tracking is KVMGT's (kvm_write_track_add_gfn), which runs no TDX guest:
        // in a TDX VM the model would emulate a write to a private gfn into shared memory.
        // A user removes only the tracking it added: the shadow MMU's own count on a guest table
        // (account_shadowed) is not KVMGT's to drop.
        if (m.Kvm.IsMirrored || GfnOf(m, Slot, Offset) is not { } gfn || (!Add && m.ExternalWriteTracks.GetValueOrDefault(gfn) == 0))
        {
            return null;
        }

        var step = When(m, Add ? $"gfn {Hex(gfn)} is write-tracked" : $"write tracking of gfn {Hex(gfn)} is removed");
        var result = Add ? m.Kvm.WriteTrackAddGfn(gfn) : m.Kvm.WriteTrackRemoveGfn(gfn);
        if (result == 0)
        {
            m.ExternalWriteTracks[gfn] = m.ExternalWriteTracks.GetValueOrDefault(gfn) + (Add ? 1 : -1);
        }

        return step with { Observation = Errno(result), Printable = result == 0 };
    }
}

// ---- the TDP MMU: NX recovery, roots ----

/// <summary>The NX recovery worker zaps possible NX huge pages (kvm_recover_nx_huge_pages; FaultSteps.RecoverNx).</summary>
public sealed record RecoverNx(int Count) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Kvm.Tdp is not { } tdp)
        {
            return null;
        }

        var step = When(m, $"the NX recovery thread zaps {Count} possible NX huge page{(Count == 1 ? "" : "s")}");
        if (tdp.RecoverNxHugePages(Count))
        {
            m.Kvm.FlushRemoteTlbs("kvm_recover_nx_huge_pages");
        }

        return step;
    }
}

/// <summary>The roots are invalidated (kvm_tdp_mmu_invalidate_roots), or the invalidated ones zapped (TdxSteps).</summary>
public sealed record Roots(bool Zap) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Kvm.Tdp is not { } tdp)
        {
            return null;
        }

        var step = When(m, Zap ? "the invalidated roots are zapped" : "the roots are invalidated");
        if (Zap)
        {
            tdp.ZapInvalidatedRoots();
        }
        else
        {
            tdp.InvalidateRoots();
        }

        return step;
    }
}

// ---- TDX: conversions, the shared alias, guest_memfd ----

/// <summary>KVM_SET_MEMORY_ATTRIBUTES to private or shared over a range (TdxSteps.ToPrivate/ToShared).</summary>
public sealed record Convert(int Slot, ulong Offset, ulong Count, bool Private) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (!m.Kvm.IsMirrored || Range(m, Slot, Offset, Count) is not var (start, end))
        {
            return null;
        }

        var step = When(m, $"gfns [{Hex(start)}, {Hex(end)}) are converted to {(Private ? "private" : "shared")}");
        var result = m.Kvm.SetMemoryAttributes(start << 12, (end - start) << 12, Private ? Kvm.KvmMemoryAttributePrivate : 0);
        return step with { Observation = Errno(result), Printable = result == 0 };
    }
}

/// <summary>A vCPU writes the shared alias of a gfn (GPA bit 47; TdxSteps.WritesShared).</summary>
public sealed record WriteShared(int Vcpu, int Slot, ulong Offset) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (!m.Kvm.IsMirrored || GfnOf(m, Slot, Offset) is not { } gfn)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var step = When(m, $"vCPU {v} writes shared gfn {Hex(gfn)}");
        return step with { Observation = Pfn(m.Kvm.Access(m.Vcpu(v), gfn | m.Kvm.GfnDirectBits, AccessKind.Write)) };
    }
}

/// <summary>fallocate(PUNCH_HOLE) on guest_memfd over a range (kvm_gmem_punch_hole; TdxSteps.PunchHole).</summary>
public sealed record PunchHole(int Slot, ulong Offset, ulong Count) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (!m.Kvm.IsMirrored || Range(m, Slot, Offset, Count) is not var (start, end))
        {
            return null;
        }

        var step = When(m, $"a hole is punched in guest_memfd over gfns [{Hex(start)}, {Hex(end)})");
        m.Kvm.PunchHole(start, end);
        return step;
    }
}

// ---- shadow paging: the guest's accesses by virtual address and stores to its tables ----

/// <summary>A vCPU accesses one of the guest's mappings by virtual address (ShadowSteps.Accesses).</summary>
public sealed record GuestTouch(int Vcpu, int Mapping, bool User, GuestAccessKind Kind) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Guest is null || m.Setup.Mappings.Length == 0)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var access = new GuestAccess(User, Kind);
        var gva = m.Setup.Mappings[Mapping % m.Setup.Mappings.Length].Gva;
        var step = When(m, $"vCPU {v} makes a {access} to gva {Hex(gva)}");
        return step with { Observation = Describe(GuestSteps.Access(m, v, access, gva)) };
    }

    internal static string Describe(GuestAccessResult result) =>
        result.PageFault is { } pf ? pf.ToString() : result.Exit ?? $"{result.Outcome} {Hex(result.Value)}";
}

/// <summary>A vCPU sets, clears or rewrites flags in its gPTE or gPDE for a mapping (ShadowSteps.SetsFlags/ClearsFlags/Rewrites).</summary>
public sealed record GpteStore(int Vcpu, int Mapping, int Level, GpteChange Change, GpteFlags Flags) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Guest is null || m.Setup.Mappings.Length == 0)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var gva = m.Setup.Mappings[Mapping % m.Setup.Mappings.Length].Gva;
        var entry = GuestWalker.LevelName(Level);
        var step = When(m, Change switch
        {
            GpteChange.Set => $"vCPU {v} sets {Flags} in the {entry} for gva {Hex(gva)}",
            GpteChange.Clear => $"vCPU {v} clears {Flags} in the {entry} for gva {Hex(gva)}",
            _ => $"vCPU {v} rewrites the {entry} for gva {Hex(gva)} unchanged",
        });
        var mask = Flags.Mask;
        var completed = GuestSteps.StoreEntry(m, v, Level, gva, Change switch
        {
            GpteChange.Set => old => old | mask,
            GpteChange.Clear => old => old & ~mask,
            _ => old => old,
        });
        return step with { Observation = completed ? "stored" : "not completed", Printable = completed };
    }
}

public enum GpteChange
{
    Set,
    Clear,
    Rewrite,
}

/// <summary>A vCPU points its gPTE for a mapping at another frame (ShadowSteps.Repoints).</summary>
public sealed record GpteRepoint(int Vcpu, int Mapping, ulong Gfn) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Guest is null || m.Setup.Mappings.Length == 0)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var gva = m.Setup.Mappings[Mapping % m.Setup.Mappings.Length].Gva;
        var gpa = Gfn << 12;
        var step = When(m, $"vCPU {v} points the Pte for gva {Hex(gva)} at gpa {Hex(gpa)}");
        var completed = GuestSteps.StoreEntry(m, v, GuestWalker.PteLevel, gva, old => (old & ~GuestPte4K.PageAddrMask) | (gpa & GuestPte4K.PageAddrMask));
        return step with { Observation = completed ? "stored" : "not completed", Printable = completed };
    }
}

/// <summary>INVLPG, a full TLB flush, a CR3 reload (ShadowSteps.Invlpg/FlushTlb/ReloadCr3).</summary>
public sealed record GuestTlb(int Vcpu, int Mapping, TlbOp Op) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Kvm.Shadow is not { } shadow || m.Setup.Mappings.Length == 0)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var gva = m.Setup.Mappings[Mapping % m.Setup.Mappings.Length].Gva;
        switch (Op)
        {
            case TlbOp.Invlpg:
                var invlpg = When(m, $"vCPU {v} executes INVLPG for gva {Hex(gva)}");
                shadow.Invlpg(m.Vcpu(v), gva);
                return invlpg;
            case TlbOp.Flush:
                var flush = When(m, $"vCPU {v} flushes its TLB");
                shadow.FlushTlbGuest(m.Vcpu(v));
                return flush;
            default:
                var cr3 = When(m, $"vCPU {v} reloads CR3");
                shadow.LoadCr3(m.Vcpu(v), m.Vcpu(v).Cpu.Cr3);
                return cr3;
        }
    }
}

public enum TlbOp
{
    Invlpg,
    Flush,
    ReloadCr3,
}

/// <summary>A vCPU writes CR0.WP, CR4.SMEP/SMAP or EFER.NX (ShadowSteps.SetsControlRegisters: kvm_post_set_cr0/cr4).</summary>
public sealed record SetControlBit(int Vcpu, ControlBit Bit, bool On) : Operation
{
    public override Step? Apply(Machine m)
    {
        if (m.Kvm.Shadow is not { } shadow)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        var name = Bit switch
        {
            ControlBit.Cr0Wp => "CR0.WP",
            ControlBit.Cr4Smep => "CR4.SMEP",
            ControlBit.Cr4Smap => "CR4.SMAP",
            _ => "EFER.NX",
        };
        var step = When(m, $"vCPU {v} sets {name}={(On ? 1 : 0)} in its control registers");
        var cpu = m.Vcpu(v).Cpu;
        shadow.SetControlRegisters(m.Vcpu(v), Bit switch
        {
            ControlBit.Cr0Wp => cpu with { Cr0Wp = On },
            ControlBit.Cr4Smep => cpu with { Cr4Smep = On },
            ControlBit.Cr4Smap => cpu with { Cr4Smap = On },
            _ => cpu with { EferNx = On },
        });
        return step;
    }
}

public enum ControlBit
{
    Cr0Wp,
    Cr4Smep,
    Cr4Smap,
    EferNx,
}

/// <summary>
/// Seed 004's race as two concurrent operations (ShadowSteps.AccessRacingStore): vCPU
/// <see cref="Vcpu"/>'s access runs <see cref="StoreAfter"/> of its steps (the CPU's access,
/// FNAME(walk_addr), the lock and the sync of kvm_inject_emulated_page_fault, ...) before vCPU
/// <see cref="Other"/>'s store sets flags in a gPTE, then both run to the end. The schedule is
/// generated (and shrinks towards the store landing first) and printed as the step's schedule
/// string, which the step replays.
/// </summary>
public sealed record RacingGpteStore(int Vcpu, int Mapping, bool User, GuestAccessKind Kind, int Other, int Target, GpteFlags Flags, int StoreAfter = 0) : Operation
{
    /// <summary>A <see cref="Target"/> that is the access's own mapping: the race of seed 004, a store to the gPTE the access walks.</summary>
    public const int SameMapping = -1;

    public override Step? Apply(Machine m)
    {
        if (m.Guest is null || m.Setup.Mappings.Length == 0)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v)
        {
            return null;
        }

        // The other vCPU: another one where the VM has two (a vCPU does not race itself).
        var other = VcpuOf(m, Other);
        if (other == v && m.Kvm.Vcpus.Count > 1)
        {
            other = (v + 1) % m.Kvm.Vcpus.Count;
        }

        if (other == v || m.Kvm.Vcpus[other].Paused)
        {
            return null;
        }

        var access = new GuestAccess(User, Kind);
        var gva = m.Setup.Mappings[Mapping % m.Setup.Mappings.Length].Gva;
        var target = Target == SameMapping ? gva : m.Setup.Mappings[Target % m.Setup.Mappings.Length].Gva;
        var outcome = new GuestAccessResult[1];
        var ctx = new Mmu.Concurrency.ConcurrentKvm(m.Kvm);
        var threads = Mmu.Concurrency.Operations.GuestAccessRacingGpteStore(ctx, m.Guest, m.Vcpu(v), gva, access, access.Kind == GuestAccessKind.Write ? m.NextGuestValue++ : 0, m.Vcpu(other), GuestWalker.PteLevel, target, Flags.Mask, Flags.ToString(), outcome);
        var run = Mmu.Concurrency.Scheduler.Run(new Mmu.Concurrency.ConcurrentScenario(ctx, threads), new StoreAfterSteps(StoreAfter));
        var step = When(m, $"vCPU {v} makes a {access} to gva {Hex(gva)} while vCPU {other} sets {Flags} in the Pte for gva {Hex(target)}, in the schedule {run.Schedule}");
        KvmWarn.On(run.Warning is not null || run.Deadlock, $"the race of vCPU {v} and vCPU {other}: {run.Warning ?? "deadlock"}");
        return step with { Observation = outcome[0] is { } result ? GuestTouch.Describe(result) : "did not end" };
    }

    /// <summary>Thread 0 runs while it can for the first <paramref name="steps"/> steps, then thread 1 while it can, then whoever can.</summary>
    private sealed class StoreAfterSteps(int steps) : Mmu.Concurrency.IScheduleChooser
    {
        public int Choose(int step, IReadOnlyList<int> enabled, int previous) =>
            step < steps && enabled.Contains(0) ? 0 : enabled.Contains(1) ? 1 : enabled[0];
    }
}

/// <summary>The shadow steps' shared moves, as ShadowSteps makes them.</summary>
internal static class GuestSteps
{
    public static GuestAccessResult Access(Machine m, int vcpu, GuestAccess access, ulong gva) =>
        m.Kvm.Run(m.Vcpu(vcpu), gva, access, access.Kind == GuestAccessKind.Write ? m.NextGuestValue++ : 0);

    /// <summary>ShadowSteps.StoreEntry: the vCPU stores the changed gPTE through the direct map; true when the store completed.</summary>
    public static bool StoreEntry(Machine m, int vcpu, int level, ulong gva, Func<ulong, ulong> change)
    {
        var guest = m.Guest!;
        return guest.WriteGpte(m.Vcpu(vcpu), gva, level, change(guest.Gpte(gva, level))).Completed;
    }
}

/// <summary>What runs beside a vCPU's fault in <see cref="RacedFaults"/>.</summary>
public enum RaceKind
{
    /// <summary>Another vCPU's fault (kvm_tdp_page_fault on both).</summary>
    Fault,

    /// <summary>An MMU notifier invalidation of a range around the gfn (tdp_mmu_zap_leafs under mmu_lock).</summary>
    Invalidate,

    /// <summary>Userspace fetching the memslot's dirty log (KVM_GET_DIRTY_LOG; under manual protect, KVM_GET_DIRTY_LOG's copy, then KVM_CLEAR_DIRTY_LOG of the pages it copied).</summary>
    FetchDirtyLog,

    /// <summary>Userspace turning dirty logging on for the memslot (KVM_SET_USER_MEMORY_REGION, KVM_MR_FLAGS_ONLY: the slot swap, then kvm_mmu_slot_apply_flags).</summary>
    EnableDirtyLogging,

    /// <summary>Userspace turning dirty logging off for the memslot (the slot swap, then kvm_mmu_recover_huge_pages under read_lock(mmu_lock)).</summary>
    DisableDirtyLogging,

    /// <summary>The primary MMU's clear_young over a range around the gfn (kvm_tdp_mmu_age_gfn_range: no mmu_lock, under RCU).</summary>
    Age,

    /// <summary>KVM_CLEAR_DIRTY_LOG of any first_page, num_pages and user bitmap (kvm_clear_dirty_log_protect, its errnos included).</summary>
    ClearDirtyLog,

    /// <summary>The host migrating the page behind a gfn (an invalidation of the page, the host PTE replaced inside it).</summary>
    Migrate,

    /// <summary>KSM merging the page behind a gfn (replace_page: inside an invalidation, or the standalone .change_pte() of older kernels).</summary>
    KsmMerge,

    /// <summary>Userspace harvesting every vCPU's dirty ring and calling KVM_RESET_DIRTY_RINGS (only in a VM with the ring).</summary>
    HarvestAndResetDirtyRings,

    /// <summary>kvm_write_track_add_gfn() on a gfn (KVMGT's write tracking: under write_lock(mmu_lock)).</summary>
    WriteTrackAdd,

    /// <summary>The mm's release (kvm_mmu_notifier_release -> kvm_mmu_zap_all: write_lock(mmu_lock), yielding to a fault that spins on it).</summary>
    Release,
}

/// <summary>
/// Two operations of the TDP MMU running together (src/Mmu/Concurrency: ScheduleSteps prints them):
/// vCPU <see cref="Vcpu"/>'s fault on a page of a memslot and, beside it, what
/// <see cref="Kind"/> says, under a generated schedule. <see cref="Switches"/> gives, decision by
/// decision (each point where both threads can run), the thread to run, 0 the fault and 1 the
/// other, the second where the first cannot run; past its end each thread runs on while it can.
/// CsCheck shrinks it towards no switch at all: the fault first, then the other. The printed
/// step carries the schedule string the run took, which the step replays exactly.
/// <see cref="Count"/> is the other fault's, the migrated or merged page's or the write-tracked
/// gfn's distance from the fault's page, or the length of the invalidated or aged range;
/// <see cref="FirstPage"/>, <see cref="NumPages"/> and <see cref="Bitmap"/> are
/// KVM_CLEAR_DIRTY_LOG's arguments (the bitmap's words repeat to num_pages' length, one fewer
/// with <see cref="ShortBitmap"/>: copy_from_user's -EFAULT).
/// Not under TDX. In a VM with the dirty ring, a fault's steps run as its vCPU (vcpu_load), so
/// its pushes go to its own ring; a vCPU whose ring is soft-full does not enter the guest
/// (KVM_EXIT_DIRTY_RING_FULL), and the operations that need a dirty bitmap or change a slot's
/// logging do not apply.
/// </summary>
public sealed record RacedFaults(int Vcpu, int Slot, ulong Offset, AccessKind Access, RaceKind Kind, int Other, ulong Count, int[] Switches,
    ulong FirstPage = 0, ulong NumPages = 0, ulong[]? Bitmap = null, bool ShortBitmap = false) : Operation
{
    /// <summary>A <see cref="NumPages"/> that means from first_page to the end of the slot (the only num_pages not a multiple of 64 the ioctl takes).</summary>
    public const ulong RestOfSlot = ulong.MaxValue;

    public override Step? Apply(Machine m)
    {
        if (m.Kvm.Tdp is null || m.Kvm.VmType == KvmVmType.Tdx || GfnOf(m, Slot, Offset) is not { } gfn)
        {
            return null;
        }

        if (RunningVcpu(m, Vcpu) is not { } v || RingSoftFull(m, v))
        {
            return null;
        }

        var ctx = new Mmu.Concurrency.ConcurrentKvm(m.Kvm);
        var fault = Mmu.Concurrency.Operations.Access(ctx, m.Vcpu(v), gfn, Access);
        var what = $"vCPU {v} faults gfn {Hex(gfn)} for a {Noun(Access)} while ";
        var ring = m.Kvm.DirtyRing is not null;
        var result = new int[1];
        Mmu.Concurrency.ConcurrentThread other;
        Action? after = null;
        switch (Kind)
        {
            case RaceKind.Fault:
                if (RunningVcpu(m, Other) is not { } o || o == v || RingSoftFull(m, o) || GfnOf(m, Slot, Offset + Count) is not { } otherGfn)
                {
                    return null;
                }

                other = Mmu.Concurrency.Operations.Access(ctx, m.Vcpu(o), otherGfn, Access);
                what += $"vCPU {o} faults gfn {Hex(otherGfn)} for a {Noun(Access)}";
                break;
            case RaceKind.Invalidate:
                var (start, end) = Range(m, Slot, Offset, Count)!.Value;
                other = Mmu.Concurrency.Operations.Invalidate(ctx, start, end, "the host changes the pages");
                what += $"the MMU notifier invalidates gfns [{Hex(start)}, {Hex(end)})";
                break;
            case RaceKind.FetchDirtyLog:
                if (ring || m.Kvm.SlotById(Slot) is not { DirtyBitmap: not null })
                {
                    return null;
                }

                other = Mmu.Concurrency.Operations.FetchDirtyLog(ctx, Slot);
                what += $"userspace fetches the dirty log of memslot {Slot}";
                break;
            case RaceKind.EnableDirtyLogging:
                if (ring || m.Kvm.SlotById(Slot) is not { DirtyTracked: false, ReadOnly: false })
                {
                    return null;
                }

                other = Mmu.Concurrency.Operations.EnableDirtyLogging(ctx, Slot);
                what += $"userspace enables dirty logging on memslot {Slot}";
                break;
            case RaceKind.DisableDirtyLogging:
                if (ring || m.Kvm.SlotById(Slot) is not { DirtyTracked: true, ReadOnly: false })
                {
                    return null;
                }

                other = Mmu.Concurrency.Operations.DisableDirtyLogging(ctx, Slot);
                what += $"userspace disables dirty logging on memslot {Slot}";
                break;
            case RaceKind.Age:
                var (ageStart, ageEnd) = Range(m, Slot, Offset, Count)!.Value;
                other = Mmu.Concurrency.Operations.Age(ctx, ageStart, ageEnd);
                what += $"the primary MMU ages gfns [{Hex(ageStart)}, {Hex(ageEnd)})";
                break;
            case RaceKind.ClearDirtyLog:
                // Any arguments: the ioctl's own checks refuse what they refuse (-EINVAL, -ENOENT,
                // -ENXIO under the ring, -EFAULT for a short bitmap), and the step says which.
                var numPages = NumPages == RestOfSlot ? (m.Kvm.SlotById(Slot) is { } cleared ? cleared.Npages - Math.Min(FirstPage, cleared.Npages) : 64) : NumPages;
                var words = (int)((numPages + 63) / 64);
                var pattern = Bitmap is { Length: > 0 } b ? b : [ulong.MaxValue];
                var bitmap = Enumerable.Range(0, Math.Max(0, words - (ShortBitmap ? 1 : 0))).Select(i => pattern[i % pattern.Length]).ToArray();
                other = Mmu.Concurrency.Operations.ClearDirtyLog(ctx, Slot, FirstPage, numPages, bitmap, result);
                what += $"KVM_CLEAR_DIRTY_LOG on memslot {Slot} from page {FirstPage} for {numPages} pages with the bitmap [{string.Join(", ", bitmap.Select(Hex))}]";
                break;
            case RaceKind.Migrate or RaceKind.KsmMerge:
                // The page must be mapped in the host: KSM merges only a present page, and
                // migration moves one (migrate_pages).
                if (GfnOf(m, Slot, Offset + Count) is not { } page || m.UserPage(page) is not { } hvpn || m.Kvm.Host.Lookup(hvpn) is null)
                {
                    return null;
                }

                other = Kind == RaceKind.Migrate ? Mmu.Concurrency.Operations.Migrate(ctx, page) : Mmu.Concurrency.Operations.KsmMerge(ctx, page);
                what += Kind == RaceKind.Migrate ? $"the host migrates the page behind gfn {Hex(page)}" : $"KSM merges the page behind gfn {Hex(page)}";
                break;
            case RaceKind.HarvestAndResetDirtyRings:
                if (!ring)
                {
                    return null;
                }

                other = Mmu.Concurrency.Operations.HarvestAndResetDirtyRings(ctx);
                what += "userspace harvests and resets the dirty rings";
                break;
            case RaceKind.WriteTrackAdd:
                // KVMGT's tracking, as WriteTrack: no TDX guest, and the gfn in a memslot.
                if (GfnOf(m, Slot, Offset + Count) is not { } tracked)
                {
                    return null;
                }

                other = Mmu.Concurrency.Operations.WriteTrackAdd(ctx, tracked);
                what += $"write tracking is added for gfn {Hex(tracked)}";
                after = () => m.ExternalWriteTracks[tracked] = m.ExternalWriteTracks.GetValueOrDefault(tracked) + 1;
                break;
            default:
                other = Mmu.Concurrency.Operations.Release(ctx);
                what += "the mm is released";
                break;
        }

        var run = Mmu.Concurrency.Scheduler.Run(new Mmu.Concurrency.ConcurrentScenario(ctx, [fault, other], Mmu.Concurrency.Operations.FinalCheck), new SwitchChooser(Switches));
        var text = Kind == RaceKind.ClearDirtyLog ? $"{what} returns {Errno(result[0])}, in the schedule {run.Schedule}" : $"{what}, in the schedule {run.Schedule}";
        var step = When(m, text);
        KvmWarn.On(run.Warning is not null || run.Deadlock, $"{what}: {run.Warning ?? "deadlock"}");
        after?.Invoke();
        return step with { Observation = m.Kvm.Tdp.LeafFor(gfn) is { } leaf ? $"0x{leaf.Spte:x}" : "none" };
    }

    // kvm_dirty_ring_check_request() (dirty_ring.c), from vcpu_enter_guest(): a vCPU whose ring
    // is soft-full exits with KVM_EXIT_DIRTY_RING_FULL before it runs the guest, so it takes no
    // fault until userspace has harvested and reset.
    private static bool RingSoftFull(Machine m, int vcpu) => m.Kvm.DirtyRing is not null && m.Kvm.RingOf(m.Kvm.Vcpus[vcpu]).SoftFull;

    private static string Noun(AccessKind access) => access switch
    {
        AccessKind.Write => "write",
        AccessKind.Fetch => "fetch",
        _ => "read",
    };

    /// <summary>Decision i runs thread <c>switches[i]</c> if it can, else the other; past the end, no preemption.</summary>
    private sealed class SwitchChooser(int[] switches) : Mmu.Concurrency.IScheduleChooser
    {
        private int _decision;

        public int Choose(int step, IReadOnlyList<int> enabled, int previous)
        {
            var i = _decision++;
            return i < switches.Length && enabled.Contains(switches[i]) ? switches[i] : Mmu.Concurrency.Scheduler.NonPreemptive(enabled, previous);
        }
    }
}
