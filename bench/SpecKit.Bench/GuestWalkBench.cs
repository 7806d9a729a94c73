using BenchmarkDotNet.Attributes;
using SpecKit.Mmu;
using SpecKit.Mmu.Guest;

namespace SpecKit.Bench;

/// <summary>
/// Warm guest walks under a 4-level root: 4,096 addresses (8 PTE tables under one PDPTE), all
/// A/D bits already set, so no walk writes memory. GuestWalker.Walk (reserved bits, rights,
/// permission_fault, A/D check) against a baseline of the same four dependent PTE reads per
/// address through the same guest memory, checking only P. Target: at least 10 million walks
/// per second.
/// </summary>
[SimpleJob(warmupCount: 3, iterationCount: 15)]
[MemoryDiagnoser]
public class GuestWalkBench
{
    private const int Walks = 4096;
    private const ulong Rwua = 0x27; // P | R/W | U/S | A
    private const ulong Dirty = 0x40;

    private readonly SparseGuestMemory _memory = new();
    private readonly ulong[] _addrs = new ulong[Walks];
    private GuestMmu _mmu = null!;

    [GlobalSetup]
    public void Setup()
    {
        var tables = new GuestPageTables(_memory, rootLevel: 4);
        for (var i = 0; i < Walks; i++)
        {
            // Spread over 8 leaf tables in one 2 GiB region above 4 GiB.
            _addrs[i] = 0x1_0000_0000UL + ((ulong)(i % 8) << 21) + ((ulong)(i / 8) << 12) + 0x10;
            tables.Map(_addrs[i], 0x4000_0000UL + ((ulong)i << 12), Rwua, Rwua, Rwua, Rwua | Dirty);
        }

        _mmu = new GuestMmu(new GuestCpuState { Cr0Wp = true, EferNx = true, Cr4Smep = true, Cr4Smap = true, EflagsAc = true, Cr3 = tables.RootGpa });
        for (var i = 0; i < Walks; i++)
        {
            if (!GuestWalker.Walk(_memory, _mmu, _addrs[i], PfErr.PFERR_WRITE_MASK, out var walk) || walk.AccessedSetLevels != 0)
            {
                throw new InvalidOperationException($"the bench's walk of 0x{_addrs[i]:x} is not warm:\n{walk.Describe()}");
            }
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Walks, Description = "4 dependent PTE reads through IGuestMemory")]
    public ulong DependentReads()
    {
        IGuestMemory memory = _memory;
        ulong sum = 0;
        foreach (var addr in _addrs)
        {
            var pte = _mmu.Cpu.Cr3;
            for (var level = 4; level >= 1; level--)
            {
                var gpa = (pte & GuestWalker.AddressMask) + ((ulong)GuestWalker.SpteIndex(addr >> GuestWalker.PageShift, level) * sizeof(ulong));
                if (!memory.TryReadPte(gpa, out pte) || (pte & GuestWalker.PresentMask) == 0)
                {
                    break;
                }
            }

            sum += pte;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Walks, Description = "GuestWalker.Walk, supervisor write, warm")]
    public ulong Walk()
    {
        ulong sum = 0;
        foreach (var addr in _addrs)
        {
            GuestWalker.Walk(_memory, _mmu, addr, PfErr.PFERR_WRITE_MASK, out var walk);
            sum += walk.Gpa;
        }

        return sum;
    }
}
