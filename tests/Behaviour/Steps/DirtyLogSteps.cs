using SpecKit.Features;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Steps for dirty logging as userspace drives it, on every backend: KVM_GET_DIRTY_LOG and
/// KVM_CLEAR_DIRTY_LOG, manual protection, and the dirty ring (the mmap'd entries peeked and
/// harvested, KVM_RESET_DIRTY_RINGS); each ioctl's result either asserted to succeed or
/// compared with the errno a step names.
/// </summary>
[Binding]
public sealed class DirtyLogSteps(VmWorld world, ScenarioContext context)
{
    private Kvm Kvm => world.Kvm;

    private void Expect(string expected, Func<Backend, string> observe) => Assert.Equal(expected, world.Each(observe));

    private static MemslotId Slot(int id) => new((ushort)id);

    [Given("manual dirty-log protection is enabled")]
    public void ManualProtect() => Expect("0", b => b.Vm.EnableCap(KvmCap.ManualDirtyLogProtect2, (ulong)ManualDirtyLogProtect.Enable).ToString());

    [Given("manual dirty-log protection is enabled with INITIALLY_SET")]
    public void ManualProtectInitiallySet() =>
        Expect("0", b => b.Vm.EnableCap(KvmCap.ManualDirtyLogProtect2, (ulong)(ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet)).ToString());

    [When("the dirty log of memslot {int} is fetched")]
    [When("the dirty log of memslot {int} is fetched again")]
    public void Fetch(int id) => Expect("0", b =>
    {
        var result = Fetch(b, id);
        if (b.LastFetch is { } fetch)
        {
            Pictures.DirtyBitmap(context, id, fetch.BaseGfn, b.Region(id).Npages, fetch.Bitmap.Words);
        }

        return result;
    });

    private static string Fetch(Backend b, int id)
    {
        var fetched = b.Vm.GetDirtyLog(Slot(id));
        if (fetched.IsOk)
        {
            b.LastFetch = (b.Region(id).BaseGfn, fetched.Value);
        }

        return fetched.Result.ToString();
    }

    [When("the dirty log of memslot {int} is fetched and cleared")]
    [When("the dirty log of memslot {int} is fetched and cleared again")]
    public void FetchAndClear(int id) => Expect("0, 0", b =>
    {
        var get = Fetch(b, id);
        var clear = b.LastFetch is { } fetch && get == "0" ? b.Vm.ClearDirtyLog(Slot(id), 0, (uint)b.Region(id).Npages, fetch.Bitmap).ToString() : "not run";
        return $"{get}, {clear}";
    });

    [Then("KVM_GET_DIRTY_LOG on memslot {int} returns {errno}")]
    public void GetReturns(int id, int expected) => Expect(VmSteps.Errno(expected), b => b.Vm.GetDirtyLog(Slot(id)).Result.ToString());

    [Then("KVM_CLEAR_DIRTY_LOG on memslot {int} from page {int} for {int} pages returns {errno}")]
    [When("KVM_CLEAR_DIRTY_LOG on memslot {int} from page {int} for {int} pages returns {errno}")]
    public void ClearReturns(int id, ulong first, uint count, int expected) =>
        Expect(VmSteps.Errno(expected), b => b.Vm.ClearDirtyLog(Slot(id), first, count, AllSet(count)).ToString());

    [Then("the fetch reports {}")]
    public void FetchReports(string ranges) => Expect(ranges, b => b.LastFetch is { } fetch
        ? Kvm.DirtyRanges(fetch.BaseGfn, fetch.Bitmap.Words)
        : throw new InvalidOperationException("nothing was fetched: 'When the dirty log of memslot n is fetched'"));

    [Then("KVM_ENABLE_CAP\\(KVM_CAP_DIRTY_LOG_RING) with {int} bytes returns {errno}")]
    public void EnableRingReturns(uint bytes, int expected) => Expect(VmSteps.Errno(expected), b => b.Vm.EnableCap(KvmCap.DirtyLogRing, bytes).ToString());

    [When("the dirty rings are collected and reset")]
    [When("the dirty rings are collected and reset again")]
    public void CollectAndReset() => Assert.DoesNotContain("RESET returned", world.Each(b =>
    {
        var entries = Harvest(b);
        var reset = b.Vm.ResetDirtyRings();
        return reset == KvmResult.Ok(entries.Count) ? $"{entries.Count} harvested and reset" : $"{entries.Count} harvested, RESET returned {reset}";
    }));

    [When("the dirty rings are collected")]
    public void Collect() => world.Each(b => Describe(Harvest(b)));

    [Then("KVM_RESET_DIRTY_RINGS resets {int} entries")]
    [When("KVM_RESET_DIRTY_RINGS resets {int} entries")]
    public void ResetCount(int expected) => Expect(VmSteps.Errno(expected), b => b.Vm.ResetDirtyRings().ToString());

    [Then("KVM_RESET_DIRTY_RINGS returns {errno}")]
    public void ResetReturns(int expected) => Expect(VmSteps.Errno(expected), b => b.Vm.ResetDirtyRings().ToString());

    [Then("the dirty ring of vCPU {int} holds {}")]
    public void RingHolds(int vcpu, string expected) => Expect(expected, b => Describe(b.Vcpu(world, vcpu).PeekDirtyRing()));

    [Then("the dirty ring of vCPU {int} is soft-full")]
    public void RingSoftFull(int vcpu) => Assert.True(Kvm.RingOf(Kvm.Vcpus[vcpu]).SoftFull, $"{Kvm.RingOf(Kvm.Vcpus[vcpu]).Used} of {Kvm.RingOf(Kvm.Vcpus[vcpu]).Size} entries used");

    /// <summary>
    /// Harvests every vCPU's mmap'd ring in vCPU order; when the entries name one slot (or none),
    /// they become the fetch a later step reads, as a bitmap of that slot.
    /// </summary>
    private List<DirtyGfn> Harvest(Backend b)
    {
        var entries = Enumerable.Range(0, b.Model?.Vcpus.Count ?? b.Vcpus.Count).SelectMany(v => b.Vcpu(world, v).HarvestDirtyRing()).ToList();
        var slots = entries.Select(e => e.Slot.Id).Distinct().ToList();
        UserspaceMemoryRegion? slot = slots.Count switch
        {
            0 => b.LastFetch is { } last ? b.RegionAt(last.BaseGfn << 12) ?? b.FirstRegion() : b.FirstRegion(),
            1 when b.Live.Contains(slots[0]) || b.Model?.SlotById(slots[0]) is not null => b.Region(slots[0]),
            _ => null,
        };
        if (slot is not null)
        {
            var bitmap = new DirtyBitmap(slot.Npages);
            foreach (var entry in entries.Where(e => e.Slot.Id == slot.Slot.Id && e.Offset < slot.Npages))
            {
                bitmap[entry.Offset] = true;
            }

            b.LastFetch = (slot.BaseGfn, bitmap);
        }
        else
        {
            b.LastFetch = null;
        }

        return entries;
    }

    /// <summary>Ring entries as "slot 0 offset 0x10 DIRTY, ...", in ring order: the entries KVM published (KVM_DIRTY_GFN_F_DIRTY).</summary>
    private static string Describe(IReadOnlyList<DirtyGfn> entries) =>
        entries.Count == 0 ? "nothing" : string.Join(", ", entries.Select(e => $"{e} DIRTY"));

    /// <summary>A bitmap of every bit of the words KVM_CLEAR_DIRTY_LOG reads for <paramref name="pages"/> pages, bits past them included.</summary>
    private static DirtyBitmap AllSet(uint pages)
    {
        var words = (int)(((ulong)pages + 63) / 64);
        return new DirtyBitmap((ulong)words * 64, Enumerable.Repeat(ulong.MaxValue, words).ToArray());
    }
}
