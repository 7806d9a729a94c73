using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.Tdx;

namespace SpecKit.Mmu.Kvm;

/// <summary>KVM_CREATE_VM's type: the default VM, or a TDX VM with private memory and mirror roots.</summary>
public enum KvmVmType
{
    /// <summary>KVM_X86_DEFAULT_VM.</summary>
    Default,

    /// <summary>KVM_X86_TDX_VM: a shared GFN bit, mirror (private) and direct (shared) roots, guest_memfd.</summary>
    Tdx,
}

public sealed partial class Kvm
{
    /// <summary>
    /// The TDX shared bit as a GFN bit (kvm->arch.gfn_direct_bits): GPA bit 47 with 4-level EPT
    /// (TDX_SHARED_BIT_PWL_4; bit 51 with 5-level), so GFN bit 35. Zero for other VMs.
    /// </summary>
    public ulong GfnDirectBits => VmType == KvmVmType.Tdx ? 1UL << (47 - TdpWalker.PageShift) : 0;

    public KvmVmType VmType { get; }

    /// <summary>kvm_has_mirrored_tdp(): the VM has mirror roots.</summary>
    public bool IsMirrored => VmType == KvmVmType.Tdx;

    // KVM_SET_MEMORY_ATTRIBUTES: the GFNs whose attribute is KVM_MEMORY_ATTRIBUTE_PRIVATE.
    private readonly HashSet<ulong> _private = [];

    // guest_memfd: the private pages allocated for GFNs, until a hole is punched over them.
    private readonly Dictionary<ulong, ulong> _gmem = [];
    private ulong _nextGmemPfn = 0x800000;

    /// <summary>kvm_mem_is_private().</summary>
    public bool IsPrivate(ulong gfn) => _private.Contains(gfn);

    /// <summary>KVM_MEMORY_ATTRIBUTE_PRIVATE (include/uapi/linux/kvm.h).</summary>
    public const ulong KvmMemoryAttributePrivate = 1UL << 3;

    /// <summary>
    /// CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES: whether the kernel was built with
    /// KVM_SET_MEMORY_ATTRIBUTES (on by default; a host built without it is modelled by turning it off).
    /// </summary>
    public bool GenericMemoryAttributes { get; set; } = true;

    /// <summary>
    /// KVM_SET_MEMORY_ATTRIBUTES (kvm_vm_ioctl_set_mem_attributes): -EINVAL for flags, an
    /// attribute the VM does not support (kvm_supported_mem_attributes: PRIVATE only where
    /// kvm_arch_has_private_mem), a zero or wrapping size, or an unaligned address or size.
    /// Then kvm_vm_set_mem_attributes(): a no-op if the range already has the attribute;
    /// otherwise begin an invalidation, let the arch pre hook unmap the old attribute's alias
    /// (kvm_arch_pre_set_memory_attributes, under the model's design of
    /// kvm_tdp_mmu_unmap_gfn_range), store the attribute, and end the invalidation. Huge pages
    /// over ranges that are now mixed are disallowed from then on (the post hook's
    /// KVM_LPAGE_MIXED_FLAG, computed here when a fault asks). Returns 0 or -errno.
    /// </summary>
    public int SetMemoryAttributes(ulong address, ulong size, ulong attributes, ulong flags = 0)
    {
        if (!GenericMemoryAttributes)
        {
            // kvm_vm_ioctl() has no case for it: kvm_arch_vm_ioctl() answers -ENOTTY.
            Log.Add($"KVM_SET_MEMORY_ATTRIBUTES [0x{address:x}, +0x{size:x}) 0x{attributes:x}: -ENOTTY (no CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES)");
            return -(int)Uapi.Errno.ENOTTY;
        }

        var supported = IsMirrored ? KvmMemoryAttributePrivate : 0;
        if (flags != 0 || (attributes & ~supported) != 0 || size == 0 || address + size < address || (address & 0xfff) != 0 || (size & 0xfff) != 0)
        {
            Log.Add($"KVM_SET_MEMORY_ATTRIBUTES [0x{address:x}, +0x{size:x}) 0x{attributes:x}: -EINVAL");
            return -(int)Uapi.Errno.EINVAL;
        }

        var (start, end) = (address >> 12, (address + size) >> 12);
        var toPrivate = attributes == KvmMemoryAttributePrivate;
        var what = $"KVM_SET_MEMORY_ATTRIBUTES [0x{start:x}, 0x{end:x}) {(toPrivate ? "private" : "shared")}";
        if (Enumerable.Range(0, (int)(end - start)).All(i => IsPrivate(start + (ulong)i) == toPrivate))
        {
            Log.Add($"{what}: the range already has the attribute, nothing to do");
            return 0;
        }

        MmuInvalidateBegin(what);
        MmuInvalidateRangeAdd(start, end);
        var attribute = toPrivate ? MemoryAttribute.Private : MemoryAttribute.Shared;
        if (Mmu.UnmapGfnRange(start, end, UnmapCaller.SetMemoryAttributes, attribute, false))
        {
            FlushRemoteTlbs("kvm_arch_pre_set_memory_attributes");
        }

        for (var gfn = start; gfn < end; gfn++)
        {
            if (toPrivate)
            {
                _private.Add(gfn);
            }
            else
            {
                _private.Remove(gfn);
            }
        }

        MmuInvalidateEnd($"kvm_mmu_invalidate_end [0x{start:x}, 0x{end:x})");
        AfterOperation("KVM_SET_MEMORY_ATTRIBUTES");
        return 0;
    }

    /// <summary>
    /// fallocate(PUNCH_HOLE) on the guest_memfd: kvm_gmem_invalidate_begin() unmaps the private
    /// pages (KVM_FILTER_PRIVATE in the merged kernel), then the pages are freed.
    /// </summary>
    public void PunchHole(ulong start, ulong end)
    {
        var what = $"guest_memfd punch hole [0x{start:x}, 0x{end:x})";
        MmuInvalidateBegin(what);
        MmuInvalidateRangeAdd(start, end);
        if (Mmu.UnmapGfnRange(start, end, UnmapCaller.GuestMemfdInvalidate, null, false))
        {
            FlushRemoteTlbs("kvm_gmem_invalidate_begin");
        }

        for (var gfn = start; gfn < end; gfn++)
        {
            if (_gmem.Remove(gfn))
            {
                ForgetStores(gfn);
            }
        }

        MmuInvalidateEnd($"kvm_mmu_invalidate_end [0x{start:x}, 0x{end:x})");
        AfterOperation("fallocate(PUNCH_HOLE)");
    }

    /// <summary>kvm_mmu_faultin_pfn_private(): kvm_gmem_get_pfn() allocates the private page on first use.</summary>
    internal ulong GmemGetPfn(ulong gfn)
    {
        if (!_gmem.TryGetValue(gfn, out var pfn))
        {
            _gmem[gfn] = pfn = _nextGmemPfn++;
        }

        return pfn;
    }

    /// <summary>
    /// kvm_mmu_hugepage_adjust() for mixed attributes: a huge page is disallowed where its range
    /// holds both private and shared GFNs (KVM_LPAGE_MIXED_FLAG).
    /// </summary>
    internal bool AttributesMixed(ulong gfn, int level)
    {
        if (_private.Count == 0)
        {
            return false;
        }

        var start = TdpWalker.GfnRoundForLevel(gfn, level);
        var first = IsPrivate(start);
        for (ulong i = 1; i < TdpWalker.PagesPerHpage(level); i++)
        {
            if (IsPrivate(start + i) != first)
            {
                return true;
            }
        }

        return false;
    }
}
