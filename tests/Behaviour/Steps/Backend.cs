using SpecKit.Kernel;
using SpecKit.Mmu.Kvm;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// One VM a scenario drives through the uAPI (<see cref="IKvmVm"/>), with what its userspace
/// keeps: the vCPUs' fds, each memslot's region (kept after a delete: a VMM's mapping outlives
/// its memslot), the last bitmap it fetched or ring it harvested, each vCPU's last exit.
/// </summary>
public sealed class Backend(string name, IKvmVm vm) : IDisposable
{
    /// <summary>"model", "kernel", or "model of this host" (the model with the kernel's declared host behaviour).</summary>
    public string Name { get; } = name;

    public IKvmVm Vm { get; } = vm;

    public Dictionary<uint, IKvmVcpu> Vcpus { get; } = [];

    public Dictionary<int, UserspaceMemoryRegion> Regions { get; } = [];

    public Dictionary<uint, VcpuExit> LastExit { get; } = [];

    /// <summary>The last fetch or harvest: the slot's base gfn when it was made, and its bitmap.</summary>
    public (ulong BaseGfn, DirtyBitmap Bitmap)? LastFetch { get; set; }

    public ulong? LastLoad { get; set; }

    public bool IsModel => Vm is ModelVm;

    public Kvm? Model => (Vm as ModelVm)?.Kvm;

    /// <summary>The vCPU with id <paramref name="id"/>; on the model, through the world so that a shadow-paging guest boots first.</summary>
    public IKvmVcpu Vcpu(VmWorld world, int id) => Vm is ModelVm model && ReferenceEquals(model.Kvm, world.Current)
        ? model.Vcpu(world.Vcpu(id))
        : Vm is ModelVm other ? other.Vcpu(other.Kvm.Vcpus[id])
        : Vcpus.TryGetValue((uint)id, out var vcpu) ? vcpu : throw new ArgumentOutOfRangeException(nameof(id), $"the {Name} VM has no vCPU {id}");

    /// <summary>
    /// Runs <paramref name="batch"/> on a vCPU and keeps its exit; the exit as text. A vCPU that
    /// left its last batch in the middle, at an MMIO exit, is resumed first (a load no step
    /// answered reads 0, as from a device with nothing there), as a VMM re-enters KVM_RUN before
    /// it gives the guest new work. After KVM_EXIT_DIRTY_RING_FULL the new batch runs only once
    /// the ring has room, which a step makes by harvesting and resetting.
    /// </summary>
    public string Run(VmWorld world, int vcpu, IReadOnlyList<GuestAccess> batch)
    {
        var resumed = "";
        if (LastExit.GetValueOrDefault((uint)vcpu) is VcpuExit.Mmio or VcpuExit.DirtyRingFull)
        {
            resumed = Keep(vcpu, Vcpu(world, vcpu).Resume()) + " (resumed); ";
            if (LastExit[(uint)vcpu] is not VcpuExit.Done)
            {
                return resumed.TrimEnd(' ', ';');
            }
        }

        return resumed + Keep(vcpu, Vcpu(world, vcpu).Run(batch));
    }

    public string Resume(VmWorld world, int vcpu, ulong data) => Keep(vcpu, Vcpu(world, vcpu).Resume(data));

    private string Keep(int vcpu, VcpuExit exit)
    {
        LastExit[(uint)vcpu] = exit;
        LastLoad = exit is VcpuExit.Done { Values.Count: > 0 } done ? done.Values[^1] : null;
        if (exit is VcpuExit.TimedOut or VcpuExit.Unexpected)
        {
            throw new Xunit.Sdk.XunitException($"the {Name} VM's vCPU {vcpu}: {exit}");
        }

        return exit.ToString();
    }

    /// <summary>
    /// How vCPU <paramref name="vcpu"/> last came back to userspace, as the {exit} words name it.
    /// The model's vCPU knows it whatever path ran the guest (uAPI batches, the shadow guest's
    /// accesses); the kernel's is its last batch's exit.
    /// </summary>
    public string ExitName(int vcpu)
    {
        if (Model is { } kvm)
        {
            return kvm.Vcpus[vcpu].LastExit ?? "none";
        }

        return LastExit.GetValueOrDefault((uint)vcpu) switch
        {
            VcpuExit.Mmio => "KVM_EXIT_MMIO",
            VcpuExit.DirtyRingFull => "KVM_EXIT_DIRTY_RING_FULL",
            VcpuExit.MemoryFault => "-EFAULT",
            null or VcpuExit.Done => "none",
            var other => other.ToString(),
        };
    }

    /// <summary>The last KVM_EXIT_MMIO of a vCPU as (is_write, len, phys_addr, data), or null.</summary>
    public (bool IsWrite, uint Len, ulong Gpa, ulong Data)? Mmio(int vcpu)
    {
        // The model's own record is in 8-byte words: its uAPI exit (the instruction's width) is
        // used when it is the exit the model's vCPU last took.
        if (LastExit.GetValueOrDefault((uint)vcpu) is VcpuExit.Mmio mmio && (Model is null || Model.Vcpus[vcpu].LastMmio is { } last && last.Gpa == (mmio.PhysAddr & ~7UL)))
        {
            return (mmio.IsWrite, mmio.Len, mmio.PhysAddr, mmio.Data);
        }

        return Model?.Vcpus[vcpu].LastMmio is { } word ? (word.IsWrite, (uint)word.Length, word.Gpa, word.Data) : null;
    }

    /// <summary>mmap of <paramref name="npages"/> pages (2M THP for <paramref name="hostLevel"/> 2) and KVM_SET_USER_MEMORY_REGION over them.</summary>
    public KvmResult CreateMemslot(int id, ulong gfn, ulong npages, MemoryRegionFlags flags, int hostLevel)
    {
        var hva = Vm.Memory.Mmap(npages * UserspaceMemoryRegion.PageSize, transparentHugePages: hostLevel == 2);
        if (!hva.IsOk)
        {
            return hva.Result;
        }

        return Set(new UserspaceMemoryRegion(new MemslotId((ushort)id), flags, gfn << 12, npages << 12, hva.Value));
    }

    /// <summary>KVM_SET_USER_MEMORY_REGION, remembering the region the VMM set when the kernel took it.</summary>
    public KvmResult Set(UserspaceMemoryRegion region)
    {
        var result = Vm.SetUserMemoryRegion(region);
        if (result.IsOk && region.MemorySize != 0)
        {
            Regions[region.Slot.Id] = region;
            Live.Remove(region.Slot.Id);
            Live.Add(region.Slot.Id);
        }
        else if (result.IsOk)
        {
            Live.Remove(region.Slot.Id);
        }

        return result;
    }

    /// <summary>The ids of the memslots that exist, oldest first.</summary>
    public List<int> Live { get; } = [];

    /// <summary>
    /// Memslot <paramref name="id"/> as it is now, or as it was last made if it is gone. On the
    /// model the slot itself answers, so steps that change it past the uAPI stay in view.
    /// </summary>
    public UserspaceMemoryRegion Region(int id) =>
        Model?.SlotById(id) is { } slot ? new UserspaceMemoryRegion(new MemslotId((ushort)id), slot.Flags, slot.BaseGfn << 12, slot.Npages << 12, slot.UserspacePage << 12)
        : Regions.TryGetValue(id, out var region) ? region
        : throw new InvalidOperationException($"memslot {id} was never made on the {Name} VM");

    /// <summary>The memslot that holds <paramref name="gpa"/> now, or null.</summary>
    public UserspaceMemoryRegion? RegionAt(ulong gpa) =>
        Model is { } kvm ? (kvm.FindSlot(gpa >> 12) is { } slot ? Region(slot.Id) : null)
        : Live.Select(Region).FirstOrDefault(r => gpa >= r.GuestPhysAddr && gpa < r.GuestPhysAddr + r.MemorySize);

    /// <summary>The first memslot made that still exists (the model's in its list order).</summary>
    public UserspaceMemoryRegion? FirstRegion() =>
        Model is { } kvm ? (kvm.Memslots.FirstOrDefault() is { } slot ? Region(slot.Id) : null)
        : Live.Count > 0 ? Region(Live[0]) : null;

    /// <summary>What userspace reads in the <paramref name="width"/> bytes at <paramref name="gpa"/> through the memslot's userspace_addr.</summary>
    public string ReadUser(ulong gpa, int width)
    {
        if (RegionAt(gpa) is not { } region)
        {
            return $"no memslot holds gpa 0x{gpa:x}";
        }

        Span<byte> bytes = stackalloc byte[8];
        var result = Vm.Memory.Read(region.UserspaceAddr + (gpa - region.GuestPhysAddr), bytes[..width]);
        return result.IsOk ? $"0x{BitConverter.ToUInt64(bytes):x}" : result.ToString();
    }

    public void Dispose() => Vm.Dispose();
}
