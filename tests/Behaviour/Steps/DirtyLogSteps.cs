using SpecKit.Features;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// Steps for dirty logging as userspace drives it: KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG,
/// manual protection, and the dirty ring (peek, harvest, KVM_RESET_DIRTY_RINGS); each ioctl's
/// result either asserted to succeed or compared with the errno a step names.
/// </summary>
[Binding]
public sealed class DirtyLogSteps(VmWorld world, ScenarioContext context)
{
    private Kvm Kvm => world.Kvm;

    private (KvmMemorySlot Slot, ulong[] Bitmap) LastFetch =>
        world.LastFetch ?? throw new InvalidOperationException("nothing was fetched: 'When the dirty log of memslot n is fetched'");

    [Given("manual dirty-log protection is enabled")]
    public void ManualProtect() => Assert.Equal(0, Kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable));

    [Given("manual dirty-log protection is enabled with INITIALLY_SET")]
    public void ManualProtectInitiallySet() => Assert.Equal(0, Kvm.EnableManualDirtyLogProtect(ManualDirtyLogProtect.Enable | ManualDirtyLogProtect.InitiallySet));

    [When("the dirty log of memslot {int} is fetched")]
    [When("the dirty log of memslot {int} is fetched again")]
    public void Fetch(int id)
    {
        Assert.Equal(0, Kvm.GetDirtyLog((uint)id, out var bitmap));
        world.LastFetch = (Kvm.Slot(id), bitmap);
        Pictures.DirtyBitmap(context, Kvm.Slot(id), bitmap);
    }

    [When("the dirty log of memslot {int} is fetched and cleared")]
    [When("the dirty log of memslot {int} is fetched and cleared again")]
    public void FetchAndClear(int id)
    {
        Fetch(id);
        Assert.Equal(0, Kvm.ClearDirtyLog((uint)id, 0, Kvm.Slot(id).Npages, LastFetch.Bitmap));
    }

    [Then("KVM_GET_DIRTY_LOG on memslot {int} returns {errno}")]
    public void GetReturns(int id, int expected) => Assert.Equal(new KvmResult(expected).ToString(), new KvmResult(Kvm.GetDirtyLog((uint)id, out _)).ToString());

    [Then("KVM_CLEAR_DIRTY_LOG on memslot {int} from page {int} for {int} pages returns {errno}")]
    [When("KVM_CLEAR_DIRTY_LOG on memslot {int} from page {int} for {int} pages returns {errno}")]
    public void ClearReturns(int id, ulong first, ulong count, int expected) =>
        Assert.Equal(new KvmResult(expected).ToString(), new KvmResult(Kvm.ClearDirtyLog((uint)id, first, count, AllSet(count))).ToString());

    [Then("the fetch reports {}")]
    public void FetchReports(string ranges) => Assert.Equal(ranges, Kvm.DirtyRanges(LastFetch.Slot.BaseGfn, LastFetch.Bitmap));

    [Then("KVM_ENABLE_CAP\\(KVM_CAP_DIRTY_LOG_RING) with {int} bytes returns {errno}")]
    public void EnableRingReturns(uint bytes, int expected) => Assert.Equal(new KvmResult(expected).ToString(), new KvmResult(Kvm.EnableDirtyRing(bytes)).ToString());

    [When("the dirty rings are collected and reset")]
    [When("the dirty rings are collected and reset again")]
    public void CollectAndReset()
    {
        var entries = Harvest();
        Assert.Equal(entries.Count, Kvm.ResetDirtyRings());
    }

    [When("the dirty rings are collected")]
    public void Collect() => Harvest();

    [Then("KVM_RESET_DIRTY_RINGS resets {int} entries")]
    [When("KVM_RESET_DIRTY_RINGS resets {int} entries")]
    public void ResetCount(int expected) => Assert.Equal(expected, Kvm.ResetDirtyRings());

    [Then("KVM_RESET_DIRTY_RINGS returns {errno}")]
    public void ResetReturns(int expected) => Assert.Equal(new KvmResult(expected).ToString(), new KvmResult(Kvm.ResetDirtyRings()).ToString());

    [Then("the dirty ring of vCPU {int} holds {}")]
    public void RingHolds(int vcpu, string expected) =>
        Assert.Equal(expected, Describe(Kvm.RingOf(Kvm.Vcpus[vcpu]).Peek()));

    [Then("the dirty ring of vCPU {int} is soft-full")]
    public void RingSoftFull(int vcpu) => Assert.True(Kvm.RingOf(Kvm.Vcpus[vcpu]).SoftFull, $"{Kvm.RingOf(Kvm.Vcpus[vcpu]).Used} of {Kvm.RingOf(Kvm.Vcpus[vcpu]).Size} entries used");

    /// <summary>Harvests every ring; the entries of the slot the entries name become the fetch a later step reads.</summary>
    private List<KvmDirtyGfn> Harvest()
    {
        var entries = Kvm.HarvestDirtyRings();
        var slots = entries.Select(e => e.Slot).Distinct().ToList();
        var slot = slots.Count switch
        {
            0 => world.LastFetch?.Slot ?? Kvm.Memslots.FirstOrDefault(),
            1 => Kvm.SlotById(slots[0]),
            _ => null,
        };
        if (slot is not null)
        {
            var bitmap = new ulong[(slot.Npages + 63) / 64];
            foreach (var entry in entries.Where(e => e.Slot == slot.Id && e.Offset < slot.Npages))
            {
                bitmap[entry.Offset / 64] |= 1UL << (int)(entry.Offset % 64);
            }

            world.LastFetch = (slot, bitmap);
        }
        else
        {
            world.LastFetch = null;
        }

        return entries;
    }

    /// <summary>Ring entries as "slot 0 offset 0x10 DIRTY, ...", in ring order.</summary>
    private static string Describe(List<KvmDirtyGfn> entries) =>
        entries.Count == 0 ? "nothing" : string.Join(", ", entries.Select(e => $"slot {e.Slot} offset 0x{e.Offset:x} {Flags(e.Flags)}"));

    private static string Flags(uint flags) => (flags & (KvmDirtyGfn.Dirty | KvmDirtyGfn.Reset)) switch
    {
        KvmDirtyGfn.Dirty => "DIRTY",
        KvmDirtyGfn.Reset => "RESET",
        KvmDirtyGfn.Dirty | KvmDirtyGfn.Reset => "DIRTY|RESET",
        _ => "0",
    };

    private static ulong[] AllSet(ulong pages) => Enumerable.Repeat(ulong.MaxValue, (int)((pages + 63) / 64) + 1).ToArray();
}
