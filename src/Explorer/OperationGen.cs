using CsCheck;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Explorer;

/// <summary>A VM to make and the operations to run on it: what the explorer generates, runs and shrinks.</summary>
public sealed record Case(VmSetup Setup, Operation[] Ops)
{
    public override string ToString() => Setup + "\n  " + string.Join("\n  ", Ops.Select(o => o.ToString()));
}

/// <summary>
/// CsCheck generators of VMs and operation sequences for each kind of VM. Numbers are drawn
/// mostly from small ranges (slot 0, the first pages of a slot, short ranges), so that random
/// operations meet on the same pages, with the whole range behind them; CsCheck shrinks toward
/// the small ends, so a shrunk counterexample reads like a scenario someone wrote.
/// </summary>
public static class OperationGen
{
    private static readonly Gen<int> Vcpu = Gen.Int[0, 1];

    private static readonly Gen<int> SlotId = Gen.Frequency((3, Gen.Const(0)), (1, Gen.Int[1, 2]));

    private static readonly Gen<ulong> Offset = Gen.Frequency((4, Gen.ULong[0, 7]), (1, Gen.ULong[0, 1023]));

    private static readonly Gen<ulong> Count = Gen.Frequency((3, Gen.ULong[1, 8]), (1, Gen.ULong[1, 1024]));

    private static readonly Gen<AccessKind> Access = Gen.Frequency((4, Gen.Const(AccessKind.Read)), (4, Gen.Const(AccessKind.Write)), (1, Gen.Const(AccessKind.Fetch)));

    private static readonly Gen<GuestAccessKind> GuestKind = Gen.Frequency((4, Gen.Const(GuestAccessKind.Read)), (4, Gen.Const(GuestAccessKind.Write)), (1, Gen.Const(GuestAccessKind.Fetch)));

    private static GpteFlags Flags(params string[] names) => new(names.Aggregate(0UL, (all, n) => all | n switch
    {
        "P" => GuestPte4K.PresentMask,
        "W" => GuestPte4K.WritableMask,
        "U" => GuestPte4K.UserMask,
        "A" => GuestPte4K.AccessedMask,
        "D" => GuestPte4K.DirtyMask,
        _ => GuestPte4K.NxMask,
    }));

    /// <summary>Leaf flags a guest maps with: read-only, writable, clean, not yet accessed, non-executable.</summary>
    private static readonly Gen<GpteFlags> LeafFlags = Gen.OneOf<GpteFlags>(
        Flags("P", "U", "A"), Flags("P", "W", "U", "A", "D"), Flags("P", "W", "U", "A"), Flags("P", "U"), Flags("P", "W", "U"), Flags("P", "U", "A", "NX"), Flags("P", "A"), Flags("P", "W", "A", "D"));

    /// <summary>Flags a guest sets or clears in a gPTE.</summary>
    private static readonly Gen<GpteFlags> ChangedFlags = Gen.OneOf<GpteFlags>(
        Flags("W", "D"), Flags("W"), Flags("A"), Flags("D"), Flags("P"), Flags("U"), Flags("NX"), Flags("A", "D"));

    private static Gen<Operation> Common => Gen.Frequency(
        (10, Gen.Select(Vcpu, SlotId, Offset, Access).Select(Operation (v, s, o, a) => new Touch(v, s, o, a))),
        (1, Gen.Select(Vcpu, Gen.ULong[0, 4095], Access).Select(Operation (v, g, a) => new StrayTouch(v, g, a))),
        (4, Gen.Select(Vcpu, SlotId, Offset, Gen.Int[0, 3], Gen.Long[1, 0xffff]).Select(Operation (v, s, o, w, x) => new Store(v, s, o, w, x))),
        (4, Gen.Select(Vcpu, SlotId, Offset, Gen.Int[0, 3]).Select(Operation (v, s, o, w) => new Load(v, s, o, w))),
        (1, Gen.Select(Vcpu, Gen.ULong[0, 0xffff]).Select(Operation (v, d) => new AnswerMmio(v, d))),
        (1, Gen.Bool.Select(Operation (p) => new PauseVcpus(p))),
        (3, Gen.Select(SlotId, Offset, Gen.Enum<HostEvent>()).Select(Operation (s, o, e) => new HostPageEvent(s, o, e))),
        (2, Gen.Select(SlotId, Offset, Count, Gen.Bool).Select(Operation (s, o, c, u) => new HostRangeEvent(s, o, c, u))),
        (2, Gen.Select(Vcpu, SlotId, Offset, Access).Select(Operation (v, s, o, a) => new RacedFault(v, s, o, a))),
        (3, Gen.Select(SlotId, Offset, Count, Gen.ULong[0, 1023], Vcpu, SlotId, Offset).Select(Operation (s, o, c, y, v, rs, ro) => new ContendedSwapOut(s, o, c, y, v, rs, ro))),
        (3, Gen.Select(SlotId, Offset, Count, Gen.Enum<AgingNotifier>()).Select(Operation (s, o, c, n) => new Age(s, o, c, n))),
        (4, Gen.Select(SlotId, Gen.Bool).Select(Operation (s, c) => new GetDirtyLog(s, c))),
        (2, Gen.Select(SlotId, Gen.Frequency((2, Gen.ULong[0, 3].Select(w => w * 64)), (1, Gen.ULong[0, 700])), Gen.Frequency((2, Gen.ULong[0, 4].Select(w => w * 64)), (1, Gen.ULong[0, 720]))).Select(Operation (s, f, c) => new ClearDirtyLog(s, f, c))),
        (2, Gen.Select(Gen.Bool, Gen.Bool).Select(Operation (h, r) => new CollectDirtyRings(h || !r, r))),
        (1, Gen.Select(SlotId, Gen.ULong[0, 4095], Gen.ULong[1, 700]).Select(Operation (s, b, n) => new CreateSlot(s, b, n))),
        (1, SlotId.Select(Operation (s) => new DeleteSlot(s))),
        (1, Gen.Select(SlotId, Gen.ULong[0, 4095]).Select(Operation (s, b) => new MoveSlot(s, b))),
        (2, SlotId.Select(Operation (s) => new ToggleLogging(s))),
        (1, Gen.Select(SlotId, Offset, Gen.Bool).Select(Operation (s, o, a) => new WriteTrack(s, o, a))));

    private static Gen<Operation> Tdp => Gen.Frequency(
        (3, Races(Gen.Enum<RaceKind>())),
        (1, FarSlot),
        (1, Gen.Int[1, 4].Select(Operation (c) => new RecoverNx(c))),
        (1, Gen.Bool.Select(Operation (z) => new Roots(z))));

    /// <summary>
    /// The first gfn of the TDP root's second top-level entry (512 GiB, 2^27 pages, with 4-level
    /// paging): memory there is what makes a walk at the root level (the mm's release,
    /// tdp_mmu_zap_root) visit two entries, and yield between them.
    /// </summary>
    public const ulong SecondTopLevelEntry = 1UL << 27;

    private static Gen<Operation> FarSlot => Gen.Select(SlotId, Gen.ULong[0, 4095], Gen.ULong[1, 700]).Select(Operation (s, b, n) => new CreateSlot(s, SecondTopLevelEntry + b, n));

    /// <summary>
    /// KVM_CLEAR_DIRTY_LOG's first_page and num_pages for a race: word-aligned mostly and anything
    /// sometimes, as <see cref="ClearDirtyLog"/> draws them, but often from the slot's first page,
    /// where the race's fault is, and to the slot's end, the only num_pages a slot of fewer than
    /// 64 pages takes.
    /// </summary>
    private static readonly Gen<ulong> FirstPage = Gen.Frequency((3, Gen.Const(0UL)), (2, Gen.ULong[1, 3].Select(w => w * 64)), (1, Gen.ULong[0, 700]));

    private static readonly Gen<ulong> NumPages = Gen.Frequency((2, Gen.ULong[0, 4].Select(w => w * 64)), (1, Gen.ULong[0, 720]), (2, Gen.Const(RacedFaults.RestOfSlot)));

    /// <summary>A user bitmap's words: every page, a few low pages, or any bits.</summary>
    private static readonly Gen<ulong[]> BitmapWords = Gen.Frequency((3, Gen.Const(ulong.MaxValue)), (1, Gen.ULong[0, 0xff]), (1, Gen.ULong)).Array[1, 3];

    /// <summary>
    /// A race's schedule decisions (<see cref="RacedFaults.Switches"/>): each drawn alone, or in
    /// runs of one thread (up to 24 decisions, about as many steps as a fault takes to its
    /// cmpxchg), so that a window a few steps wide (a fault between its ring push and its
    /// install) is met often; CsCheck shrinks both towards fewer, shorter runs.
    /// </summary>
    private static readonly Gen<int[]> Switches = Gen.Frequency(
        (1, Gen.Int[0, 1].Array[0, 16]),
        (2, Gen.Select(Gen.Int[0, 1], Gen.Int[1, 24]).Array[1, 4].Select(runs => runs.SelectMany(r => Enumerable.Repeat(r.Item1, r.Item2)).ToArray())));

    /// <summary>
    /// A vCPU's fault raced against what <paramref name="kinds"/> draws, under a generated schedule
    /// (<see cref="RacedFaults"/>), with KVM_CLEAR_DIRTY_LOG's arguments for that kind.
    /// </summary>
    public static Gen<Operation> Races(Gen<RaceKind> kinds) =>
        Gen.Select(
                Gen.Select(Vcpu, SlotId, Offset, Access),
                Gen.Select(kinds, Vcpu, Gen.ULong[0, 3], Switches),
                Gen.Select(FirstPage, NumPages, BitmapWords, Gen.Frequency((9, Gen.Const(false)), (1, Gen.Const(true)))))
            .Select(Operation (a, b, c) => new RacedFaults(a.Item1, a.Item2, a.Item3, a.Item4, b.Item1, b.Item2, b.Item3, b.Item4, c.Item1, c.Item2, c.Item3, c.Item4));

    private static Gen<Operation> Tdx => Gen.Frequency(
        (2, Gen.Select(SlotId, Gen.ULong[0, 63], Count, Gen.Bool).Select(Operation (s, o, c, p) => new Convert(s, o, c, p))),
        (3, Gen.Select(Vcpu, SlotId, Gen.ULong[0, 63]).Select(Operation (v, s, o) => new WriteShared(v, s, o))),
        (2, Gen.Select(SlotId, Gen.ULong[0, 63], Count).Select(Operation (s, o, c) => new PunchHole(s, o, c))));

    private static readonly Gen<int> Mapping = Gen.Int[0, 3];

    private static Gen<Operation> Shadow => Gen.Frequency(
        (8, Gen.Select(Vcpu, Mapping, Gen.Frequency((3, Gen.Const(true)), (1, Gen.Const(false))), GuestKind).Select(Operation (v, i, u, k) => new GuestTouch(v, i, u, k))),
        (5, Gen.Select(Vcpu, Mapping, Gen.Frequency((4, Gen.Const(GuestWalker.PteLevel)), (1, Gen.Const(GuestWalker.PdeLevel))), Gen.Enum<GpteChange>(), ChangedFlags).Select(Operation (v, i, l, c, f) => new GpteStore(v, i, l, c, f))),
        (1, Gen.Select(Vcpu, Mapping, Gen.ULong[0x200, 0x20f]).Select(Operation (v, i, g) => new GpteRepoint(v, i, g))),
        (2, Gen.Select(Vcpu, Mapping, Gen.Enum<TlbOp>()).Select(Operation (v, i, t) => new GuestTlb(v, i, t))),
        (1, Gen.Select(Vcpu, Gen.Enum<ControlBit>(), Gen.Bool).Select(Operation (v, b, on) => new SetControlBit(v, b, on))),
        (6, Gen.Select(Vcpu, Mapping, Gen.Frequency((3, Gen.Const(true)), (1, Gen.Const(false))), GuestKind, Vcpu, Gen.Frequency((3, Gen.Const(RacingGpteStore.SameMapping)), (1, Mapping)), ChangedFlags, Gen.Int[0, 4]).Select(Operation (v, i, u, k, o, t, f, a) => new RacingGpteStore(v, i, u, k, o, t, f, a))));

    /// <summary>
    /// The operations a VM of <paramref name="kind"/> can do; with <paramref name="race"/>, under
    /// TDP, the common ones and that race alone, drawn often: a search for what it can break.
    /// </summary>
    public static Gen<Operation> Operations(VmKind kind, RaceKind? race = null) => (kind, race) switch
    {
        (VmKind.Ept or VmKind.Npt, { } only) => Gen.Frequency((6, Common), (3, Races(Gen.Const(only))), (1, FarSlot)),
        _ => Operations(kind),
    };

    private static Gen<Operation> Operations(VmKind kind) => kind switch
    {
        VmKind.Shadow => Gen.Frequency((3, Common), (4, Shadow)),
        VmKind.Tdx => Gen.Frequency((6, Common), (1, Tdp), (2, Tdx)),
        _ => Gen.Frequency((10, Common), (1, Tdp)),
    };

    private static Gen<SlotSetup> Slot(int id, bool hugeOk, bool readOnlyOk = true, ulong maxPages = 700) =>
        Gen.Select(Gen.ULong[0, 300], Gen.Frequency((3, Gen.ULong[1, 64]), (2, Gen.ULong[1, maxPages])), Gen.Frequency((3, Gen.Const(1)), (hugeOk ? 1 : 0, Gen.Const(2))), Gen.Bool, Gen.Frequency((7, Gen.Const(false)), (readOnlyOk ? 1 : 0, Gen.Const(true))))
            .Select((b, n, level, log, ro) => new SlotSetup(id, (ulong)id * 1024 + b, n, level, log, ro));

    /// <summary>Slots <paramref name="first"/>.. up to id 2, each in its own 1024-page window so that the setup never overlaps (moves and creates later may).</summary>
    private static Gen<SlotSetup[]> Slots(int first, bool hugeOk, bool readOnlyOk = true, ulong maxPages = 700) =>
        Gen.Select(Slot(0, hugeOk, readOnlyOk, maxPages), Slot(1, hugeOk, readOnlyOk, maxPages), Slot(2, hugeOk, readOnlyOk, maxPages), Gen.Int[first == 0 ? 1 : 0, 3 - first])
            .Select((a, b, c, n) => new[] { a, b, c }.Skip(first).Take(n).ToArray());

    /// <summary>The guest's mappings under shadow paging: user gvas in one PTE table, onto frames of slot 0 past its page tables.</summary>
    private static readonly Gen<GuestMapping[]> Mappings =
        Gen.Select(LeafFlags, Gen.ULong[0x200, 0x20f]).Array[1, 4]
            .Select(ms => ms.Select((m, i) => new GuestMapping(0x400000UL + ((ulong)i << 12), m.Item2 << 12, m.Item1)).ToArray());

    /// <summary>The VMs of <paramref name="kind"/>: vCPUs, dirty-log mode, module parameters, memslots.</summary>
    public static Gen<VmSetup> Setups(VmKind kind) => kind switch
    {
        // The guest boots with all of RAM in its direct map, so its other slots are small.
        // The guest's tables live at gfn 0x100 (GuestPageTables.DefaultTableBaseGfn): slot 0 holds them and the frames it maps (0x200..0x20f).
        VmKind.Shadow => Gen.Select(Vcpu.Select(v => v + 1), Gen.Enum<DirtyLogMode>(), Gen.Bool, Slots(1, hugeOk: true, maxPages: 64), Mappings, Gen.Bool)
            .Select((vcpus, mode, split, more, maps, log) => new VmSetup(kind, vcpus, mode, EptAd: true, NxHugePages: false, split, [new SlotSetup(0, 0, 0x280, 1, log, false), .. more], maps, [])),
        VmKind.Tdx => Gen.Select(Vcpu.Select(v => v + 1), Gen.Bool, Slots(1, hugeOk: false, readOnlyOk: false), Gen.Select(Gen.ULong[0, 48], Gen.ULong[1, 16]).Array[0, 2])
            .Select((vcpus, split, more, priv) => new VmSetup(kind, vcpus, DirtyLogMode.Bitmap, EptAd: true, NxHugePages: false, split, [new SlotSetup(0, 0, 1024, 1, false, false), .. more], [], Disjoint(priv))),
        // pml (enable_pml) only with EPT A/D bits (vmx.c hardware_setup), and not with the ring:
        // its reserve then holds the PML log (kvm_dirty_ring_get_rsvd_entries), more than RingEntries.
        _ => Gen.Select(
                Gen.Select(Vcpu.Select(v => v + 1), Gen.Enum<DirtyLogMode>(), Gen.Frequency((3, Gen.Const(true)), (kind == VmKind.Ept ? 1 : 0, Gen.Const(false))), Gen.Frequency((3, Gen.Const(false)), (1, Gen.Const(true))), Gen.Frequency((3, Gen.Const(true)), (1, Gen.Const(false))), Slots(0, hugeOk: true))
                    .Select((vcpus, mode, ad, nx, split, slots) => new VmSetup(kind, vcpus, mode, ad, nx, split, slots, [], [])),
                Gen.Frequency((2, Gen.Const(false)), (kind == VmKind.Ept ? 1 : 0, Gen.Const(true))))
            .Select((setup, pml) => setup with { Pml = pml && setup.EptAd && setup.Mode != DirtyLogMode.Ring }),
    };

    private static (ulong Start, ulong End)[] Disjoint((ulong Start, ulong Length)[] ranges)
    {
        var result = new List<(ulong, ulong)>();
        var next = 0UL;
        foreach (var (start, length) in ranges.OrderBy(r => r.Start))
        {
            var s = Math.Max(start, next);
            result.Add((s, s + length));
            next = s + length;
        }

        return [.. result];
    }

    /// <summary>Whole cases: a VM of <paramref name="kind"/> and 1 to <paramref name="maxSteps"/> operations.</summary>
    public static Gen<Case> Cases(VmKind kind, int maxSteps = 50, RaceKind? race = null) =>
        Gen.Select(Setups(kind), Operations(kind, race).Array[1, maxSteps]).Select((setup, ops) => new Case(setup, ops));
}
