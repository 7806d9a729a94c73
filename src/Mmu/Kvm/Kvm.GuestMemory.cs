using SpecKit.Mmu.Guest;

namespace SpecKit.Mmu.Kvm;

public sealed partial class Kvm
{
    private KvmGuestMemory? _guestMemory;
    private UserGuestMemory? _userMemory;

    /// <summary>
    /// Guest memory as KVM reads and writes it for the guest walker (FNAME(walk_addr_generic):
    /// gfn_to_hva_memslot_prot, __get_user, __try_cmpxchg_user), through the memslots.
    /// </summary>
    public IGuestMemory GuestMemory => _guestMemory ??= new KvmGuestMemory(this);

    /// <summary>
    /// Guest memory as the VMM sees it through its own mapping of guest RAM: what it writes there
    /// (a guest kernel's page tables laid out before the guest runs) KVM does not see or log.
    /// </summary>
    public IGuestPhysicalMemory UserMemory => _userMemory ??= new UserGuestMemory(this);

    /// <summary>KVM's accesses to guest memory on the guest's behalf.</summary>
    private sealed class KvmGuestMemory(Kvm kvm) : IGuestMemory
    {
        public bool TryReadPte(ulong gpa, out ulong pte)
        {
            pte = 0;
            if (kvm.FindSlot(gpa >> 12) is not { } slot || kvm.Host.FaultIn(slot.GfnToHvpn(gpa >> 12)) is not { } page)
            {
                return false;
            }

            pte = kvm.Host.Read(page.Pfn, WordIndex(gpa));
            return true;
        }

        /// <summary>
        /// The walker's A/D update: nothing in a read-only slot (!walker->pte_writable), -EFAULT
        /// where no host page can be had, a retry if the PTE changed; an exchange marks the
        /// table's page dirty (kvm_vcpu_mark_page_dirty).
        /// </summary>
        public PteCmpxchgResult CompareExchangePte(ulong gpa, ulong expected, ulong value)
        {
            var gfn = gpa >> 12;
            if (kvm.FindSlot(gfn) is not { } slot)
            {
                return PteCmpxchgResult.Fault;
            }

            if (slot.ReadOnly)
            {
                return PteCmpxchgResult.ReadOnly;
            }

            if (!TryReadPte(gpa, out var current))
            {
                return PteCmpxchgResult.Fault;
            }

            if (current != expected)
            {
                return PteCmpxchgResult.ValueChanged;
            }

            if (!kvm.WriteGuestPhys(slot, gpa, value))
            {
                return PteCmpxchgResult.Fault;
            }

            kvm.Log.Add($"  FNAME(update_accessed_dirty_bits): the gPTE at gpa 0x{gpa:x} gets {GuestBits(value & ~expected)}, kvm_vcpu_mark_page_dirty(gfn 0x{gfn:x})");
            kvm.MarkPageDirtyInSlot(slot, gfn);
            return PteCmpxchgResult.Exchanged;
        }
    }

    /// <summary>The A and D bits a walk set in a gPTE, as the log writes them.</summary>
    private static string GuestBits(ulong bits) =>
        string.Join(' ', new[] { ((bits & GuestPte4K.AccessedMask) != 0, "A"), ((bits & GuestPte4K.DirtyMask) != 0, "D") }.Where(b => b.Item1).Select(b => b.Item2));

    /// <summary>The VMM's plain loads and stores to guest RAM through its mapping.</summary>
    private sealed class UserGuestMemory(Kvm kvm) : IGuestPhysicalMemory
    {
        public bool TryReadPte(ulong gpa, out ulong pte) => kvm.GuestMemory.TryReadPte(gpa, out pte);

        public PteCmpxchgResult CompareExchangePte(ulong gpa, ulong expected, ulong value)
        {
            if (!TryReadPte(gpa, out var current))
            {
                return PteCmpxchgResult.Fault;
            }

            if (current != expected)
            {
                return PteCmpxchgResult.ValueChanged;
            }

            WritePte(gpa, value);
            return PteCmpxchgResult.Exchanged;
        }

        public void WritePte(ulong gpa, ulong pte)
        {
            var slot = kvm.FindSlot(gpa >> 12) ?? throw new ArgumentException($"gpa 0x{gpa:x} is in no memslot: the VMM has no mapping of it", nameof(gpa));
            if (!kvm.WriteGuestPhys(slot, gpa, pte))
            {
                throw new InvalidOperationException($"the VMM cannot write gpa 0x{gpa:x}: its host memory is gone or read-only");
            }
        }
    }

    /// <summary>
    /// KVM_SET_SREGS for a vCPU: the paging state it runs with (CR0, CR3, CR4, EFER). Under shadow
    /// paging a change of role or root resets the MMU context (kvm_mmu_reset_context), so the next
    /// entry loads the root for the new state.
    /// </summary>
    public void SetSregs(KvmVcpu vcpu, GuestCpuState cpu)
    {
        if (Shadow is { } shadow && vcpu.ShadowMmu?.Root is not null)
        {
            shadow.SetControlRegisters(vcpu, cpu);
            if (cpu.Cr3 != vcpu.Cpu.Cr3)
            {
                shadow.LoadCr3(vcpu, cpu.Cr3);
            }

            return;
        }

        vcpu.SetCpu(cpu);
        Log.Add($"vCPU {vcpu.Id}: KVM_SET_SREGS {cpu}, CR3 0x{cpu.Cr3:x}");
    }
}
