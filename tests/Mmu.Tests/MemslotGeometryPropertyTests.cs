using CsCheck;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Mmu.Tests;

/// <summary>
/// Random memslot geometries (any base gfn 0..1023, any size, any flags, 4K or 2M host pages)
/// driven through guest accesses, KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG with any range, the
/// dirty ring, logging toggled, slots moved, deleted and re-created, and host events, under the
/// base model on EPT (A/D bits on and off) and NPT. The kernel answers every one of these with a
/// value or an errno: the model must never throw (a .NET exception or a kernel WARN), and the
/// checker, which holds the kernel's contract, must stay silent. A failure shrinks to the
/// shortest sequence and prints its seed (CsCheck), so it reruns with <c>seed:</c>.
/// </summary>
public class MemslotGeometryPropertyTests
{
    public enum LogMode
    {
        Bitmap,
        ManualProtect,
        InitiallySet,
        Ring,
    }

    public sealed record Slot(ulong BaseGfn, ulong Npages, bool Log, bool ReadOnly, int HostLevel);

    public abstract record Op;

    public sealed record Write(int Slot, ulong Offset, long Value) : Op;

    public sealed record Read(int Slot, ulong Offset) : Op;

    public sealed record Fetch(int Slot, ulong Offset) : Op;

    /// <summary>An access to a gfn no slot may hold (or one another slot holds).</summary>
    public sealed record Stray(ulong Gfn, bool IsWrite) : Op;

    public sealed record GetLog(int Slot) : Op;

    public sealed record ClearLog(int Slot, ulong First, ulong Count) : Op;

    public sealed record CollectRings : Op;

    public sealed record ToggleLogging(int Slot) : Op;

    public sealed record Move(int Slot, ulong NewBaseGfn) : Op;

    public sealed record Delete(int Slot) : Op;

    public sealed record Create(int Slot, ulong BaseGfn, ulong Npages, bool Log, bool ReadOnly, int HostLevel) : Op;

    public sealed record SwapOut(int Slot, ulong Offset) : Op;

    public sealed record KsmMerge(int Slot, ulong Offset) : Op;

    public sealed record Migrate(int Slot, ulong Offset) : Op;

    public sealed record Age(int Slot) : Op;

    /// <summary>A host event (migration, KSM merge, swap-out) that runs between the fault's PFN lookup and its mmu_lock.</summary>
    public sealed record RacedFault(int Slot, ulong Offset, bool IsWrite, int Event) : Op;

    /// <summary>mmu_lock contended at a gfn: the next walk that can yield there does, and a vCPU accesses a page meanwhile.</summary>
    public sealed record Contended(int Slot, ulong YieldAt, ulong Offset, bool IsWrite) : Op;

    public sealed record Case(MmuKind Mmu, bool EptAd, LogMode Mode, Slot[] Slots, Op[] Ops)
    {
        public override string ToString() =>
            $"{Mmu}{(EptAd ? "" : " eptad=0")} {Mode}; slots: {string.Join(", ", Slots.Select(s => s.ToString()))}\n  " + string.Join("\n  ", Ops.Select(o => o.ToString()));
    }

    private static readonly Gen<Slot> GenSlot =
        Gen.Select(Gen.ULong[0, 1023], Gen.ULong[1, 700], Gen.Bool, Gen.Int[0, 5], Gen.Int[1, 2])
            .Select((b, n, log, ro, level) => new Slot(b, n, log, ro == 0, level));

    private static readonly Gen<ulong> Offset = Gen.ULong[0, 720];

    private static readonly Gen<int> SlotId = Gen.Int[0, 2];

    private static readonly Gen<Op> GenOp = Gen.Frequency(
        (8, Gen.Select(SlotId, Offset, Gen.Long[1, 1000]).Select(Op (s, o, v) => new Write(s, o, v))),
        (5, Gen.Select(SlotId, Offset).Select(Op (s, o) => new Read(s, o))),
        (1, Gen.Select(SlotId, Offset).Select(Op (s, o) => new Fetch(s, o))),
        (1, Gen.Select(Gen.ULong[0, 2047], Gen.Bool).Select(Op (g, w) => new Stray(g, w))),
        (3, SlotId.Select(Op (s) => new GetLog(s))),
        (3, Gen.Select(SlotId, Gen.OneOf(Gen.ULong[0, 3].Select(w => w * 64), Gen.ULong[0, 300]), Gen.OneOf(Gen.ULong[0, 4].Select(w => w * 64), Gen.ULong[0, 720])).Select(Op (s, f, c) => new ClearLog(s, f, c))),
        (3, Gen.Const<Op>(new CollectRings())),
        (2, SlotId.Select(Op (s) => new ToggleLogging(s))),
        (1, Gen.Select(SlotId, Gen.ULong[0, 1500]).Select(Op (s, b) => new Move(s, b))),
        (1, SlotId.Select(Op (s) => new Delete(s))),
        (1, Gen.Select(SlotId, GenSlot).Select(Op (s, g) => new Create(s, g.BaseGfn, g.Npages, g.Log, g.ReadOnly, g.HostLevel))),
        (1, Gen.Select(SlotId, Offset).Select(Op (s, o) => new SwapOut(s, o))),
        (1, Gen.Select(SlotId, Offset).Select(Op (s, o) => new KsmMerge(s, o))),
        (1, Gen.Select(SlotId, Offset).Select(Op (s, o) => new Migrate(s, o))),
        (1, SlotId.Select(Op (s) => new Age(s))),
        (2, Gen.Select(SlotId, Offset, Gen.Bool, Gen.Int[0, 2]).Select(Op (s, o, w, e) => new RacedFault(s, o, w, e))),
        (2, Gen.Select(SlotId, Offset, Offset, Gen.Bool).Select(Op (s, y, o, w) => new Contended(s, y, o, w))));

    private static readonly Gen<Case> GenCase =
        Gen.Select(
            Gen.OneOf(Gen.Const(MmuKind.TdpEpt), Gen.Const(MmuKind.TdpNpt)),
            Gen.Bool,
            Gen.Enum<LogMode>(),
            GenSlot.Array[1, 3],
            GenOp.Array[1, 40])
        .Select((mmu, ad, mode, slots, ops) => new Case(mmu, ad || mmu != MmuKind.TdpEpt, mode, slots, ops));

    /// <summary>400 cases in the suite; CsCheck_Iter or CsCheck_Time (seconds) runs longer, CsCheck_Seed reruns one.</summary>
    [Fact]
    public void Any_geometry_and_any_sequence_gets_a_value_or_an_errno_and_a_silent_checker() =>
        GenCase.Sample(
            Run,
            iter: Environment.GetEnvironmentVariable("CsCheck_Iter") is { } iter ? int.Parse(iter, System.Globalization.CultureInfo.InvariantCulture) : 400,
            print: c => c.ToString());

    /// <summary>Runs one case; true when the kernel's contract held throughout.</summary>
    private static bool Run(Case c)
    {
        var kvm = new Kvm.Kvm(SpecModels.Base, c.Mmu) { EptAdBits = c.EptAd };
        kvm.Log.Enabled = false;
        switch (c.Mode)
        {
            case LogMode.ManualProtect:
                Assert.Equal(0, kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable));
                break;
            case LogMode.InitiallySet:
                Assert.Equal(0, kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet));
                break;
            case LogMode.Ring:
                Assert.Equal(0, kvm.EnableDirtyRing(4096 * 4));
                break;
        }

        var vcpu = kvm.CreateVcpu();
        for (var i = 0; i < c.Slots.Length; i++)
        {
            var s = c.Slots[i];
            Errno(kvm.CreateMemslot(i, s.BaseGfn, s.Npages, Flags(s.Log, s.ReadOnly), s.HostLevel), "KVM_SET_USER_MEMORY_REGION");
        }

        foreach (var op in c.Ops)
        {
            Apply(kvm, vcpu, op);
            if (kvm.Violations.Count > 0)
            {
                throw new Xunit.Sdk.XunitException($"after {op}: {string.Join("; ", kvm.Violations)}");
            }
        }

        kvm.CheckInvariants("the sequence");
        return kvm.Violations.Count == 0;
    }

    private static void Apply(Kvm.Kvm kvm, KvmVcpu vcpu, Op op)
    {
        switch (op)
        {
            case Write w when Gfn(kvm, w.Slot, w.Offset) is { } gfn:
                Touch(kvm, vcpu, () => kvm.WriteGuest(vcpu, gfn << 12, (ulong)w.Value));
                break;
            case Read r when Gfn(kvm, r.Slot, r.Offset) is { } gfn:
                Touch(kvm, vcpu, () => kvm.ReadGuest(vcpu, gfn << 12));
                break;
            case Fetch f when Gfn(kvm, f.Slot, f.Offset) is { } gfn:
                Touch(kvm, vcpu, () => kvm.Access(vcpu, gfn, AccessKind.Fetch));
                break;
            case Stray s:
                Touch(kvm, vcpu, () =>
                {
                    if (s.IsWrite)
                    {
                        kvm.WriteGuest(vcpu, s.Gfn << 12, 7);
                    }
                    else
                    {
                        kvm.ReadGuest(vcpu, s.Gfn << 12);
                    }
                });
                break;
            case GetLog g:
                Errno(kvm.GetDirtyLog((uint)g.Slot, out _), "KVM_GET_DIRTY_LOG");
                break;
            case ClearLog cl:
                Errno(kvm.ClearDirtyLog((uint)cl.Slot, cl.First, cl.Count, Enumerable.Repeat(ulong.MaxValue, (int)(cl.Count / 64) + 1).ToArray()), "KVM_CLEAR_DIRTY_LOG");
                break;
            case CollectRings when kvm.DirtyRing is not null:
                kvm.HarvestDirtyRings();
                Assert.True(kvm.ResetDirtyRings() >= 0);
                vcpu.LastExit = null;
                break;
            case CollectRings:
                Assert.Equal(-(int)Uapi.Errno.EINVAL, kvm.ResetDirtyRings());
                break;
            case ToggleLogging t when kvm.SlotById(t.Slot) is { } slot:
                Errno(kvm.SetMemslotFlags(t.Slot, slot.Flags ^ MemoryRegionFlags.LogDirtyPages), "KVM_SET_USER_MEMORY_REGION");
                break;
            case Move m:
                Errno(kvm.MoveMemslot(m.Slot, m.NewBaseGfn), "KVM_SET_USER_MEMORY_REGION");
                break;
            case Delete d:
                Errno(kvm.DeleteMemslot(d.Slot), "KVM_SET_USER_MEMORY_REGION");
                break;
            case Create cr:
                Errno(kvm.CreateMemslot(cr.Slot, cr.BaseGfn, cr.Npages, Flags(cr.Log, cr.ReadOnly), cr.HostLevel), "KVM_SET_USER_MEMORY_REGION");
                break;
            case SwapOut s when UserPage(kvm, s.Slot, s.Offset) is { } hvpn:
                kvm.SwapOut(hvpn, hvpn + 1);
                break;
            case KsmMerge k when UserPage(kvm, k.Slot, k.Offset) is { } hvpn:
                kvm.KsmMerge(hvpn);
                break;
            case Migrate m when UserPage(kvm, m.Slot, m.Offset) is { } hvpn:
                kvm.Migrate(hvpn, hvpn + 1);
                break;
            case Age a when kvm.SlotById(a.Slot) is { } slot:
                kvm.Age(slot.UserspacePage, slot.UserspacePage + slot.Npages, AgingNotifier.ClearFlushYoung);
                break;
            case RacedFault r when Gfn(kvm, r.Slot, r.Offset) is { } gfn && UserPage(kvm, r.Slot, r.Offset) is { } hvpn:
                kvm.BeforeFaultTakesLock.Enqueue(r.Event switch
                {
                    0 => () => kvm.Migrate(hvpn, hvpn + 1),
                    1 => () => kvm.KsmMerge(hvpn),
                    _ => () => kvm.SwapOut(hvpn, hvpn + 1),
                });
                Touch(kvm, vcpu, () => kvm.Access(vcpu, gfn, r.IsWrite ? AccessKind.Write : AccessKind.Read));
                kvm.BeforeFaultTakesLock.Clear();
                break;
            case Contended ct when Gfn(kvm, ct.Slot, ct.YieldAt) is { } yieldAt && Gfn(kvm, ct.Slot, ct.Offset) is { } gfn:
                kvm.Contention.At(yieldAt);
                kvm.WhileUnlocked.Enqueue(() => Touch(kvm, vcpu, () => kvm.Access(vcpu, gfn, ct.IsWrite ? AccessKind.Write : AccessKind.Read)));
                break;
        }
    }

    /// <summary>A guest access; a vCPU whose ring is soft-full exits instead, and userspace collects before it runs again.</summary>
    private static void Touch(Kvm.Kvm kvm, KvmVcpu vcpu, Action access)
    {
        if (kvm.DirtyRing is not null && kvm.RingOf(vcpu).SoftFull)
        {
            kvm.HarvestDirtyRings();
            kvm.ResetDirtyRings();
        }

        access();
    }

    /// <summary>An ioctl's result is 0 or an errno the kernel returns for it.</summary>
    private static void Errno(int result, string ioctl)
    {
        Uapi.Errno[] allowed = [Uapi.Errno.EINVAL, Uapi.Errno.ENOENT, Uapi.Errno.EEXIST, Uapi.Errno.ENXIO, Uapi.Errno.EFAULT];
        Assert.True(result == 0 || allowed.Contains((Uapi.Errno)(-result)), $"{ioctl} returned {new KvmResult(result)}");
    }

    private static ulong? Gfn(Kvm.Kvm kvm, int slotId, ulong offset) =>
        kvm.SlotById(slotId) is { } slot ? slot.BaseGfn + (offset % slot.Npages) : null;

    private static ulong? UserPage(Kvm.Kvm kvm, int slotId, ulong offset) =>
        kvm.SlotById(slotId) is { } slot ? slot.GfnToHvpn(slot.BaseGfn + (offset % slot.Npages)) : null;

    private static MemoryRegionFlags Flags(bool log, bool readOnly) =>
        (log ? MemoryRegionFlags.LogDirtyPages : MemoryRegionFlags.None) | (readOnly ? MemoryRegionFlags.ReadOnly : MemoryRegionFlags.None);
}
