namespace SpecKit.Mmu.Guest;

/// <summary>What an access does to the page: the W and I/D bits of the #PF error code.</summary>
public enum GuestAccessKind
{
    Read,
    Write,
    Fetch,
}

/// <summary>
/// One guest access as walk_addr_generic() receives it: the PFERR_* bits W, U and I/D, plus
/// KVM's synthetic PFERR_IMPLICIT_ACCESS for a supervisor access the CPU makes on its own
/// (descriptor tables, the TSS), which EFLAGS.AC cannot exempt from SMAP.
/// </summary>
public readonly record struct GuestAccess
{
    public GuestAccess(bool user, GuestAccessKind kind, bool isImplicit = false)
    {
        if (user && isImplicit)
        {
            throw new ArgumentException("an implicit access is a supervisor access (PFERR_IMPLICIT_ACCESS without PFERR_USER_MASK)", nameof(isImplicit));
        }

        User = user;
        Kind = kind;
        Implicit = isImplicit;
    }

    public bool User { get; }

    public GuestAccessKind Kind { get; }

    public bool Implicit { get; }

    /// <summary>The access as the kernel passes it to the walk: PFERR_WRITE/USER/FETCH_MASK and PFERR_IMPLICIT_ACCESS.</summary>
    public ulong Pfec =>
        (User ? PfErr.PFERR_USER_MASK : 0)
        | (Kind == GuestAccessKind.Write ? PfErr.PFERR_WRITE_MASK : 0)
        | (Kind == GuestAccessKind.Fetch ? PfErr.PFERR_FETCH_MASK : 0)
        | (Implicit ? PfErr.PFERR_IMPLICIT_ACCESS : 0);

    /// <summary>Every access kind: user or supervisor, read, write or fetch (the access.c axes).</summary>
    public static IReadOnlyList<GuestAccess> All { get; } =
    [
        .. from user in new[] { false, true }
           from kind in new[] { GuestAccessKind.Read, GuestAccessKind.Write, GuestAccessKind.Fetch }
           select new GuestAccess(user, kind),
    ];

    /// <summary>A supervisor access of <paramref name="kind"/>: what the guest kernel does to its own memory.</summary>
    public static GuestAccess Of(Kvm.AccessKind kind) => new(user: false, kind switch
    {
        Kvm.AccessKind.Write => GuestAccessKind.Write,
        Kvm.AccessKind.Fetch => GuestAccessKind.Fetch,
        _ => GuestAccessKind.Read,
    });

    /// <summary>The access as an EPT violation's exit qualification names it: read, write or fetch.</summary>
    public Kvm.AccessKind AccessKind => Kind switch
    {
        GuestAccessKind.Write => Kvm.AccessKind.Write,
        GuestAccessKind.Fetch => Kvm.AccessKind.Fetch,
        _ => Kvm.AccessKind.Read,
    };

    /// <summary>Reads "user write", "supervisor fetch" or "implicit supervisor read".</summary>
    public static GuestAccess Parse(string text)
    {
        var words = text.Trim().ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var isImplicit = words.Length == 3 && words[0] == "implicit";
        var rest = isImplicit ? words[1..] : words;
        if (rest.Length != 2 || rest[0] is not ("user" or "supervisor") || !Enum.TryParse<GuestAccessKind>(rest[1], ignoreCase: true, out var kind) || !Enum.IsDefined(kind))
        {
            throw new FormatException($"'{text}' is not an access: write e.g. \"user write\", \"supervisor fetch\" or \"implicit supervisor read\"");
        }

        return new GuestAccess(rest[0] == "user", kind, isImplicit);
    }

    public override string ToString() =>
        (Implicit ? "implicit " : "") + (User ? "user " : "supervisor ") + Kind.ToString().ToLowerInvariant();
}

/// <summary>Reads a #PF error code the way the SDM names its bits.</summary>
public static class PfErrorCode
{
    private static readonly (ulong Mask, string Name)[] Bits =
    [
        (PfErr.PFERR_PRESENT_MASK, "P"),
        (PfErr.PFERR_WRITE_MASK, "W"),
        (PfErr.PFERR_USER_MASK, "U"),
        (PfErr.PFERR_RSVD_MASK, "RSVD"),
        (PfErr.PFERR_FETCH_MASK, "I/D"),
        (PfErr.PFERR_PK_MASK, "PK"),
    ];

    /// <summary><c>P|W|U</c>; <c>0</c> for an error code with no bit set (a not-present supervisor read).</summary>
    public static string Describe(ulong errorCode)
    {
        var names = Bits.Where(b => (errorCode & b.Mask) != 0).Select(b => b.Name).ToList();
        var known = Bits.Aggregate(0UL, (all, b) => all | b.Mask);
        if ((errorCode & ~known) != 0)
        {
            names.Add($"0x{errorCode & ~known:x}");
        }

        return names.Count == 0 ? "0" : string.Join('|', names);
    }
}

/// <summary>A #PF KVM delivered to the guest: where, and the error code.</summary>
public readonly record struct GuestPageFault(ulong Address, ulong ErrorCode)
{
    public override string ToString() => $"#PF at 0x{Address:x} ({PfErrorCode.Describe(ErrorCode)})";
}
