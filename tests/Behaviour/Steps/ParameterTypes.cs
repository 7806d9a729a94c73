using System.Globalization;
using SpecKit.Features;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;
using SpecKit.Mmu.Kvm;
using SpecKit.Mmu.Tdp;
using SpecKit.Mmu.X86;
using SpecKit.Uapi;

namespace SpecKit.Behaviour.Steps;

/// <summary>
/// The parameter types steps take, in the words KVM developers use. Each says what it accepts,
/// and the feature generator holds every step's argument to it at build time: a GFN beyond 64
/// bits, a misspelt model or "unsnyc" is a compile error at the step, never a string a step
/// compares at run time (where a typo would pass as false).
/// </summary>
public static class ParameterTypes
{
    private const string Number = "0x[0-9a-fA-F_]+|[0-9]+";

    /// <summary><c>{gfn}</c>: a guest frame number, hex (0x1f) or decimal.</summary>
    [ParameterType("gfn", Number, Integer = true, Description = "a guest frame number")]
    public static ulong Gfn(string text) => ParseNumber(text);

    /// <summary><c>{gfn_list}</c>: guest frame numbers, "0x10, 0x11, 0x80".</summary>
    [ParameterType("gfn_list", @"(?:0x[0-9a-fA-F_]+|[0-9]+)(?:, (?:0x[0-9a-fA-F_]+|[0-9]+))*", Description = "guest frame numbers, comma-separated")]
    public static ulong[] Gfns(string text) => text.Split(", ").Select(ParseNumber).ToArray();

    /// <summary><c>{pfn}</c>: a host frame number (or any 64-bit value), hex or decimal.</summary>
    [ParameterType("pfn", Number, Integer = true, Description = "a host frame number")]
    public static ulong Pfn(string text) => ParseNumber(text);

    /// <summary><c>{gpa}</c>: a guest physical address, hex (0x3008) or decimal.</summary>
    [ParameterType("gpa", Number, Integer = true, Description = "a guest physical address")]
    public static ulong Gpa(string text) => ParseNumber(text);

    /// <summary><c>{level}</c>: 4K, 2M, 1G or a level number 1..5, as PG_LEVEL_* counts them.</summary>
    [ParameterType("level", @"\w+", Words = ["4K", "2M", "1G", "1", "2", "3", "4", "5"], Description = "a page size or a page-table level (PG_LEVEL_*)")]
    public static int Level(string text) => text switch
    {
        "4K" => 1,
        "2M" => 2,
        "1G" => 3,
        _ => int.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <summary><c>{access}</c>: read, write or fetch, as an EPT violation's exit qualification names them.</summary>
    [ParameterType("access", @"\w+", Words = ["read", "write", "fetch"], Description = "an access")]
    public static AccessKind Access(string text) => text switch
    {
        "write" => AccessKind.Write,
        "fetch" => AccessKind.Fetch,
        _ => AccessKind.Read,
    };

    /// <summary><c>{model}</c>: the base model or a variant of spec/variants, by its name.</summary>
    [ParameterType("model", @"\S+", WordsOf = typeof(SpecModelNames), Description = "a model")]
    public static string Model(string text) => text;

    /// <summary><c>{mmu}</c>: the MMU a VM is made with: the TDP MMU on EPT (Intel) or NPT (AMD), or shadow paging (tdp_enabled off).</summary>
    [ParameterType("mmu", "EPT|NPT|shadow paging", Description = "an MMU: EPT, NPT or shadow paging")]
    public static MmuKind Mmu(string text) => text switch
    {
        "NPT" => MmuKind.TdpNpt,
        "shadow paging" => MmuKind.Shadow,
        _ => MmuKind.TdpEpt,
    };

    /// <summary><c>{spte_flags}</c>: a leaf's rights and KVM's bits as SpteMasks.Describe writes them: "WMHAD-", "-MHA-X access-tracked".</summary>
    [ParameterType("spte_flags", @"[W-][M-][H-][A-][D-][X-](?: access-tracked)?", Description = "SPTE flags: W M H A D X, '-' for a clear one")]
    public static string SpteFlags(string text) => text;

    /// <summary><c>{mmio_direction}</c>: an MMIO exit's direction (run->mmio.is_write); true for a write.</summary>
    [ParameterType("mmio_direction", @"\S+", Words = ["read", "write"])]
    public static bool MmioIsWrite(string text) => text == "write";

    /// <summary><c>{prot}</c>: mprotect(2)'s protection, as the C flags are written.</summary>
    [ParameterType("prot", @"PROT_[A-Z|_]+", Words = ["PROT_NONE", "PROT_READ", "PROT_READ|PROT_WRITE"], Description = "an mprotect protection")]
    public static Prot Protection(string text) => text switch
    {
        "PROT_NONE" => Prot.None,
        "PROT_READ" => Prot.Read,
        _ => Prot.Read | Prot.Write,
    };

    /// <summary><c>{on_off}</c>: a module parameter's state.</summary>
    [ParameterType("on_off", @"\S+", Words = ["on", "off"])]
    public static bool OnOff(string text) => text == "on";

    /// <summary><c>{writability}</c>: whether an SPTE is writable.</summary>
    [ParameterType("writability", @"\S+", Words = ["writable", "read-only"])]
    public static bool Writable(string text) => text == "writable";

    /// <summary><c>{notifier}</c>: an aging callback of mmu_notifier_ops.</summary>
    [ParameterType("notifier", @"\S+", Words = ["clear_young", "clear_flush_young", "test_young"], Description = "an aging MMU notifier")]
    public static AgingNotifier Notifier(string text) => text switch
    {
        "clear_flush_young" => AgingNotifier.ClearFlushYoung,
        "test_young" => AgingNotifier.TestYoung,
        _ => AgingNotifier.ClearYoung,
    };

    /// <summary><c>{young_old}</c>: what test_young answers; true for young.</summary>
    [ParameterType("young_old", @"\S+", Words = ["young", "old"])]
    public static bool Young(string text) => text == "young";

    /// <summary><c>{errno}</c>: an ioctl's result as the kernel names it: 0, a count, or -EINVAL, -ENOENT, ...</summary>
    [ParameterType("errno", @"-?\w+", Words = ["0", "-EPERM", "-ENOENT", "-EINTR", "-EIO", "-ENXIO", "-E2BIG", "-EAGAIN", "-ENOMEM", "-EFAULT", "-EBUSY", "-EEXIST", "-EINVAL", "-ENOSPC", "-ENOTTY"], Description = "0 or an errno the model returns")]
    public static int Errno(string text) => text == "0" ? 0 : -(int)Enum.Parse<SpecKit.Uapi.Errno>(text[1..]);

    /// <summary><c>{kvm_cap}</c>: a capability by its kvm.h name, for KVM_CHECK_EXTENSION.</summary>
    [ParameterType("kvm_cap", @"KVM_CAP_\w+", Words = ["KVM_CAP_USER_MEMORY", "KVM_CAP_NR_MEMSLOTS", "KVM_CAP_READONLY_MEM", "KVM_CAP_MULTI_ADDRESS_SPACE", "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", "KVM_CAP_DIRTY_LOG_RING", "KVM_CAP_MAX_VCPU_ID", "KVM_CAP_MAX_VCPUS", "KVM_CAP_BINARY_STATS_FD", "KVM_CAP_IMMEDIATE_EXIT", "KVM_CAP_SYNC_MMU"])]
    public static SpecKit.Uapi.KvmCap Capability(string text) => text switch
    {
        "KVM_CAP_USER_MEMORY" => SpecKit.Uapi.KvmCap.UserMemory,
        "KVM_CAP_NR_MEMSLOTS" => SpecKit.Uapi.KvmCap.NrMemslots,
        "KVM_CAP_READONLY_MEM" => SpecKit.Uapi.KvmCap.ReadonlyMem,
        "KVM_CAP_MULTI_ADDRESS_SPACE" => SpecKit.Uapi.KvmCap.MultiAddressSpace,
        "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2" => SpecKit.Uapi.KvmCap.ManualDirtyLogProtect2,
        "KVM_CAP_DIRTY_LOG_RING" => SpecKit.Uapi.KvmCap.DirtyLogRing,
        "KVM_CAP_MAX_VCPU_ID" => SpecKit.Uapi.KvmCap.MaxVcpuId,
        "KVM_CAP_MAX_VCPUS" => SpecKit.Uapi.KvmCap.MaxVcpus,
        "KVM_CAP_BINARY_STATS_FD" => SpecKit.Uapi.KvmCap.BinaryStatsFd,
        "KVM_CAP_IMMEDIATE_EXIT" => SpecKit.Uapi.KvmCap.ImmediateExit,
        _ => SpecKit.Uapi.KvmCap.SyncMmu,
    };

    /// <summary><c>{pf_result}</c>: what the fault handler returned (RET_PF_*).</summary>
    [ParameterType("pf_result", @"\S+", Words = ["RET_PF_CONTINUE", "RET_PF_RETRY", "RET_PF_EMULATE", "RET_PF_WRITE_PROTECTED", "RET_PF_INVALID", "RET_PF_FIXED", "RET_PF_SPURIOUS"])]
    public static PageFaultResult PageFault(string text) => Enum.Parse<PageFaultResult>(text["RET_PF_".Length..].Replace("_", "", StringComparison.Ordinal), ignoreCase: true);

    /// <summary><c>{exit}</c>: why KVM_RUN returned to userspace.</summary>
    [ParameterType("exit", @"\S+", Words = ["KVM_EXIT_DIRTY_RING_FULL", "KVM_EXIT_MEMORY_FAULT", "KVM_EXIT_MMIO", "-EFAULT"])]
    public static string Exit(string text) => text;

    /// <summary><c>{entry}</c>: a guest page-table entry by level, as GuestWalker names them.</summary>
    [ParameterType("entry", @"\w+", Words = ["Pte", "Pde", "Pdpte", "Pml4e", "Pml5e"], Description = "a guest page-table entry")]
    public static int Entry(string text) =>
        Enumerable.Range(1, GuestWalker.Pml5eLevel).First(l => GuestWalker.LevelName(l) == text);

    /// <summary><c>{gpte_flags}</c>: gPTE flags, e.g. "P W U A D NX".</summary>
    [ParameterType("gpte_flags", @"(?:P|W|U|A|D|NX)(?: (?:P|W|U|A|D|NX))*", Description = "gPTE flags: P W U A D NX")]
    public static GpteFlags GpteFlags(string text) => new(text.Split(' ').Aggregate(0UL, (all, flag) => all | flag switch
    {
        "P" => GuestPte4K.PresentMask,
        "W" => GuestPte4K.WritableMask,
        "U" => GuestPte4K.UserMask,
        "A" => GuestPte4K.AccessedMask,
        "D" => GuestPte4K.DirtyMask,
        _ => GuestPte4K.NxMask,
    }));

    /// <summary><c>{cpu_bits}</c>: control-register bits, e.g. "CR0.WP=0, CR4.SMEP=1".</summary>
    [ParameterType("cpu_bits", @"(?:CR0\.WP|CR4\.SMEP|CR4\.SMAP|EFER\.NX|EFLAGS\.AC)=[01](?:, (?:CR0\.WP|CR4\.SMEP|CR4\.SMAP|EFER\.NX|EFLAGS\.AC)=[01])*", Description = "control bits: CR0.WP, CR4.SMEP, CR4.SMAP, EFER.NX or EFLAGS.AC, =0 or =1")]
    public static CpuBits CpuBits(string text) => new(text.Split(", ").Select(a => (a[..a.IndexOf('=')], a[^1] == '1')).ToList());

    /// <summary><c>{sync_state}</c>: whether a shadow page is unsync or in sync with its guest table; true for unsync.</summary>
    [ParameterType("sync_state", @"\S+", Words = ["unsync", "synced"])]
    public static bool Unsync(string text) => text == "unsync";

    /// <summary><c>{schedule}</c>: a schedule string, the thread of each step as a digit (src/Mmu/Concurrency/Scheduler).</summary>
    [ParameterType("schedule", "[0-9]+", Description = "a schedule: the thread of each step, one digit each")]
    public static string Schedule(string text) => text;

    /// <summary><c>{bitmap}</c>: a user bitmap's 64-bit words, lowest pages first, as KVM_CLEAR_DIRTY_LOG reads it: [0xffffffffffffffff, 0x5], or [] for none.</summary>
    [ParameterType("bitmap", @"\[(?:0x[0-9a-fA-F]+(?:, 0x[0-9a-fA-F]+)*)?\]", Description = "a user bitmap's 64-bit words: [0xff, 0x0]")]
    public static ulong[] Bitmap(string text) => text is "[]" ? [] : text[1..^1].Split(", ").Select(ParseNumber).ToArray();

    /// <summary><c>{tracking}</c>: whether a guest table's gfn is write-tracked.</summary>
    [ParameterType("tracking", @"\S+", Words = ["write-tracked", "untracked"])]
    public static bool WriteTracked(string text) => text == "write-tracked";

    internal static ulong ParseNumber(string text)
    {
        var clean = text.Replace("_", "", StringComparison.Ordinal);
        return clean.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(clean.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
            : ulong.Parse(clean, CultureInfo.InvariantCulture);
    }
}

/// <summary>gPTE flag bits.</summary>
public readonly record struct GpteFlags(ulong Mask)
{
    /// <summary>The flags as a step writes them ("W D").</summary>
    public override string ToString()
    {
        var mask = Mask;
        return string.Join(' ', new (ulong Bit, string Name)[]
    {
        (GuestPte4K.PresentMask, "P"), (GuestPte4K.WritableMask, "W"), (GuestPte4K.UserMask, "U"),
        (GuestPte4K.AccessedMask, "A"), (GuestPte4K.DirtyMask, "D"), (GuestPte4K.NxMask, "NX"),
        }.Where(f => (mask & f.Bit) != 0).Select(f => f.Name));
    }
}

/// <summary>Control-register bit assignments, applied to a CPU state in order.</summary>
public sealed record CpuBits(IReadOnlyList<(string Bit, bool On)> Assignments)
{
    public GuestCpuState ApplyTo(GuestCpuState cpu)
    {
        foreach (var (bit, on) in Assignments)
        {
            cpu = bit switch
            {
                "CR0.WP" => cpu with { Cr0Wp = on },
                "CR4.SMEP" => cpu with { Cr4Smep = on },
                "CR4.SMAP" => cpu with { Cr4Smap = on },
                "EFER.NX" => cpu with { EferNx = on },
                _ => cpu with { EflagsAc = on },
            };
        }

        return cpu;
    }
}
