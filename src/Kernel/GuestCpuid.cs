using SpecKit.Kernel.Native;
using SpecKit.Uapi;

namespace SpecKit.Kernel;

/// <summary>The CPUID features the paging guest needs, where the SDM Vol. 2 CPUID tables put them.</summary>
public enum GuestCpuFeature
{
    /// <summary>CPUID.80000001H:EDX[29] (LM): EFER.LME, so IA-32e mode.</summary>
    LongMode,

    /// <summary>CPUID.80000001H:EDX[20] (NX): EFER.NXE, so the XD bit.</summary>
    Nx,

    /// <summary>CPUID.80000001H:EDX[26] (Page1GB): PS in a PDPTE.</summary>
    Gbpages,
}

/// <summary>
/// KVM_GET_SUPPORTED_CPUID, read once: what KVM can show a guest. A vCPU gets all of it through
/// KVM_SET_CPUID2 before it enters paged mode, because KVM checks EFER against the guest's
/// CPUID, not the host's (__kvm_valid_efer() wants LM for EFER.LME, NX for EFER.NXE), and under shadow
/// paging its walker takes PS in a PDPTE for a reserved bit unless the guest's CPUID has
/// GBPAGES (mmu.c reset_guest_rsvds_bits_mask() -> __reset_rsvds_bits_mask(): gbpages_bit_rsvd).
/// </summary>
internal static unsafe class GuestCpuid
{
    private const int MaxEntries = 256;

    private static readonly Lazy<KvmResult<KvmCpuidEntry2[]>> Supported = new(Read);

    public static bool Has(GuestCpuFeature feature)
    {
        const uint extended = 0x8000_0001;
        var bit = feature switch
        {
            GuestCpuFeature.LongMode => 29,
            GuestCpuFeature.Nx => 20,
            GuestCpuFeature.Gbpages => 26,
            _ => throw new ArgumentOutOfRangeException(nameof(feature)),
        };
        if (!Supported.Value.IsOk)
        {
            return false;
        }

        foreach (var e in Supported.Value.Value)
        {
            if (e.Function == extended)
            {
                return (e.Edx & (1u << bit)) != 0;
            }
        }

        return false;
    }

    /// <summary>KVM_SET_CPUID2 with everything KVM supports.</summary>
    public static KvmResult SetAll(int vcpuFd)
    {
        if (!Supported.Value.IsOk)
        {
            return Supported.Value.Result;
        }

        var entries = Supported.Value.Value;
        var buffer = new byte[sizeof(KvmCpuid2) + (entries.Length * sizeof(KvmCpuidEntry2))];
        fixed (byte* p = buffer)
        {
            ((KvmCpuid2*)p)->Nent = (uint)entries.Length;
            entries.CopyTo(new Span<KvmCpuidEntry2>(p + sizeof(KvmCpuid2), entries.Length));
            return Sys.Result(Libc.Ioctl(vcpuFd, KvmIoctl.KVM_SET_CPUID2, (nint)p));
        }
    }

    private static KvmResult<KvmCpuidEntry2[]> Read()
    {
        if (KernelKvm.Instance is not { } kvm)
        {
            return KvmResult<KvmCpuidEntry2[]>.Fail(Errno.ENODEV);
        }

        var buffer = new byte[sizeof(KvmCpuid2) + (MaxEntries * sizeof(KvmCpuidEntry2))];
        fixed (byte* p = buffer)
        {
            ((KvmCpuid2*)p)->Nent = MaxEntries;
            if (Libc.Ioctl(kvm.Fd, KvmIoctl.KVM_GET_SUPPORTED_CPUID, (nint)p) < 0)
            {
                return KvmResult<KvmCpuidEntry2[]>.Fail((Errno)Libc.Errno);
            }

            var n = (int)((KvmCpuid2*)p)->Nent;
            return KvmResult<KvmCpuidEntry2[]>.Ok(new ReadOnlySpan<KvmCpuidEntry2>(p + sizeof(KvmCpuid2), n).ToArray());
        }
    }
}
