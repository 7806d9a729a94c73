using SpecKit.Uapi;

namespace SpecKit.Kernel.Guest;

/// <summary>
/// The paging controls a test can turn on with <c>KernelVcpu.EnablePaging</c>, besides CR0.PG,
/// CR4.PAE and EFER.LME (SDM Vol. 3A 2.5 and 4.1.3).
/// </summary>
[Flags]
internal enum PagingControls
{
    None = 0,

    /// <summary>CR0.WP: a supervisor store to a page without R/W faults.</summary>
    WriteProtect = 1 << 0,

    /// <summary>EFER.NXE: bit 63 of an entry is XD; without it bit 63 is reserved.</summary>
    NoExecute = 1 << 1,

    /// <summary>
    /// CPL 3: the batch runs in user mode, CS, SS and the data segments at DPL 3 (selectors with
    /// RPL 3) and EFLAGS.IOPL 3 so that its closing OUT is allowed; every page it touches, its
    /// code and mailbox included, must then be a user page.
    /// </summary>
    User = 1 << 2,
}

/// <summary>The operations a mailbox entry asks the guest to perform.</summary>
internal enum GuestOp : uint
{
    Write8 = 1,
    Write16 = 2,
    Write32 = 3,
    Read8 = 4,
    Read16 = 5,
    Read32 = 6,

    /// <summary>Loop forever: only the watchdog's own tests ask for this.</summary>
    Spin = 7,
}

/// <summary>
/// The guest every vCPU runs: flat 32-bit protected mode, no paging. It reads its vCPU's
/// mailbox (ECX: a count, then from ESI 16-byte entries {op, gpa, value, pad}), performs each
/// access with one instruction, stores what a read returned back into the entry's value, and
/// signals the end of the batch with OUT to <see cref="DonePort"/> (KVM_EXIT_IO). EDI holds the
/// index of the access running, so the host knows which access an exit belongs to.
///
/// Why 32-bit without paging: the guest has no page tables, so the CPU (or KVM's emulator)
/// never walks or sets A/D bits in guest memory; the only guest memory it touches besides the
/// batch's accesses is this code and the mailbox, in <see cref="SystemSlot"/>, which never logs
/// dirty pages. A dirty log or ring therefore holds the batch's stores and nothing else. The
/// price is that gpas stop at 4 GiB and an access is at most 4 bytes.
/// </summary>
internal static class BatchGuest
{
    /// <summary>Where the code and the mailbox live: the last MiB below 4 GiB, away from any scenario's memory.</summary>
    public const ulong SystemGpa = 0xFFF0_0000;

    public const ulong CodeGpa = SystemGpa;

    public const ulong MailboxSize = 0x10000;

    /// <summary>How many vCPUs get a mailbox, so how many can run batches.</summary>
    public const int MaxVcpus = 8;

    public const ulong SystemSize = 0x1000 + (MaxVcpus * MailboxSize);

    public const int EntriesOffset = 16;

    public const int EntrySize = 16;

    public const int MaxAccesses = (int)((MailboxSize - EntriesOffset) / EntrySize);

    public const byte DonePort = 0x10;

    /// <summary>The highest gpa a 32-bit guest without paging reaches.</summary>
    public const ulong GpaLimit = 1UL << 32;

    public static byte[] Code { get; } = Build();

    /// <summary>The mailbox of the <paramref name="index"/>th vCPU created.</summary>
    public static ulong MailboxGpa(int index) => SystemGpa + 0x1000 + ((ulong)index * MailboxSize);

    public static bool InSystemRange(ulong gpa, ulong size) => gpa < SystemGpa + SystemSize && gpa + size > SystemGpa;

    public static GuestOp OpOf(GuestAccess access) => (access.Kind, access.Width) switch
    {
        (GuestAccessKind.Write, 1) => GuestOp.Write8,
        (GuestAccessKind.Write, 2) => GuestOp.Write16,
        (GuestAccessKind.Write, 4) => GuestOp.Write32,
        (GuestAccessKind.Read, 1) => GuestOp.Read8,
        (GuestAccessKind.Read, 2) => GuestOp.Read16,
        (GuestAccessKind.Read, 4) => GuestOp.Read32,
        _ => throw new ArgumentOutOfRangeException(nameof(access), access, "the 32-bit guest accesses 1, 2 or 4 bytes"),
    };

    private static byte[] Build()
    {
        var a = new Asm32();
        a.Label("start");
        a.XorReg(Reg32.Edi, Reg32.Edi);

        a.Label("next");
        a.CmpMem(Reg32.Edi, Reg32.Ecx);
        a.Jae("done");
        a.Load32(Reg32.Eax, Reg32.Esi);
        a.Load32(Reg32.Ebx, Reg32.Esi, 4);
        a.Load32(Reg32.Edx, Reg32.Esi, 8);
        foreach (var op in Enum.GetValues<GuestOp>())
        {
            a.CmpImm(Reg32.Eax, (sbyte)op);
            a.Je(op.ToString());
        }

        a.Ud2();

        // Each access is the one instruction between its label and the jump back.
        a.Label(nameof(GuestOp.Write8));
        a.Store8(Reg32.Ebx, Reg32.Edx);
        a.Jmp("advance");
        a.Label(nameof(GuestOp.Write16));
        a.Store16(Reg32.Ebx, Reg32.Edx);
        a.Jmp("advance");
        a.Label(nameof(GuestOp.Write32));
        a.Store32(Reg32.Ebx, Reg32.Edx);
        a.Jmp("advance");
        a.Label(nameof(GuestOp.Read8));
        a.Load8Zx(Reg32.Eax, Reg32.Ebx);
        a.Jmp("result");
        a.Label(nameof(GuestOp.Read16));
        a.Load16Zx(Reg32.Eax, Reg32.Ebx);
        a.Jmp("result");
        a.Label(nameof(GuestOp.Read32));
        a.Load32(Reg32.Eax, Reg32.Ebx);
        a.Label("result");
        a.Store32(Reg32.Esi, Reg32.Eax, 8);
        a.Jmp("advance");
        a.Label(nameof(GuestOp.Spin));
        a.Jmp(nameof(GuestOp.Spin));

        a.Label("advance");
        a.AddImm(Reg32.Esi, EntrySize);
        a.Inc(Reg32.Edi);
        a.Jmp("next");

        a.Label("done");
        a.OutAl(DonePort);
        a.Hlt();
        return a.Assemble();
    }
}
