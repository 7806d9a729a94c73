using System.Text.RegularExpressions;
using SpecKit.Pictures;

namespace SpecKit.Report.Tests;

/// <summary>The SVG pictures, made from a real model's SPTEs, bitmap and log.</summary>
public class PictureTests
{
    private static SmallVm Vm(Action<SmallVm> steps)
    {
        var vm = new SmallVm();
        vm.Create(1);
        steps(vm);
        return vm;
    }

    private static int Count(string svg, string pattern) => Regex.Matches(svg, pattern).Count;

    [Fact]
    public void The_tree_has_a_box_for_each_line_of_the_snapshot_with_its_bits()
    {
        // Both pages written, KVM_GET_DIRTY_LOG write-protects them, then 0x10 is written again
        // (the fast page fault makes it writable again): 0x20 stays MMU-writable but not W.
        var vm = Vm(v =>
        {
            v.Write(0x10);
            v.Write(0x20);
            Assert.Equal(0, v.Kvm.GetDirtyLog(0, out _));
            v.Write(0x10);
        });
        var text = vm.Kvm.DescribeSptes();
        var svg = SptePicture.Render(text, "SPTEs");

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var line in lines)
        {
            Assert.Contains($"<title>{Svg.Escape(line.Trim())}</title>", svg);
        }

        // Two leaves, five badges each.
        Assert.Equal(10, Count(svg, "<title>(W \\(writable\\)|D \\(dirty\\)|A \\(accessed\\)|MMU-writable|Host-writable) (set|clear)</title>"));
        var nodes = SpteTree.Parse(text).SelectMany(Flatten).Where(n => n.Kind == SpteKind.Leaf).ToList();
        Assert.Equal(2, nodes.Count);
        Assert.True(nodes[0].Writable && nodes[0].Dirty && nodes[0].MmuWritable && nodes[0].HostWritable, nodes[0].Line);
        Assert.True(!nodes[1].Writable && nodes[1].MmuWritable && nodes[1].HostWritable, nodes[1].Line);
        Assert.Equal(2, SpteTree.Parse(text).SelectMany(Flatten).Max(n => n.Depth) - 1);
    }

    /// <summary>
    /// A tree seen in the middle of a shared-path teardown (vCPU 0 maps a 2M page over a 4K
    /// table while vCPU 1 walks it, as ConcurrencyTests' HugeOverTable): the text shows the
    /// unlinked table with its frozen entries, and the picture draws them as frozen.
    /// </summary>
    [Fact]
    public void Entries_frozen_mid_schedule_are_in_the_text_and_drawn_as_frozen()
    {
        string? seen = null;
        for (var seed = 0; seed < 200 && seen is null; seed++)
        {
            var kvm = new SpecKit.Mmu.Kvm.Kvm(SpecKit.Mmu.SpecModels.All.Single(m => m.Name == "base")) { NxHugePages = true };
            var vcpus = new[] { kvm.CreateVcpu(), kvm.CreateVcpu() };
            Assert.Equal(0, kvm.CreateMemslot(0, 0, 1024, SpecKit.Uapi.MemoryRegionFlags.None, hostLevel: 2));
            var slot = kvm.FindSlot(0x201)!;
            var pte = kvm.Host.Lookup(slot.GfnToHvpn(0x201))!.Value;
            Assert.Equal(SpecKit.Mmu.Tdp.PageFaultResult.Fixed, kvm.Tdp!.Map(new SpecKit.Mmu.Tdp.TdpFault(0x201, pte.Pfn, 2, 1, SpecKit.Mmu.Kvm.AccessKind.Read, pte.Writable, false, slot)));
            var ctx = new SpecKit.Mmu.Concurrency.ConcurrentKvm(kvm) { FreeThroughRcu = true };
            var scenario = new SpecKit.Mmu.Concurrency.ConcurrentScenario(ctx, [
                SpecKit.Mmu.Concurrency.Operations.Access(ctx, vcpus[0], 0x200, SpecKit.Mmu.Kvm.AccessKind.Read),
                SpecKit.Mmu.Concurrency.Operations.Access(ctx, vcpus[1], 0x202, SpecKit.Mmu.Kvm.AccessKind.Fetch)]);
            SpecKit.Mmu.Concurrency.Scheduler.Run(scenario, new Watching(seed, () =>
            {
                var text = kvm.DescribeSptes();
                if (seen is null && text.Contains("frozen", StringComparison.Ordinal))
                {
                    seen = text;
                }
            }));
        }

        Assert.NotNull(seen);

        // The frozen entries are in the unlinked table's section, runs collapsed as leaves are.
        var lines = seen!.Split('\n');
        var section = Array.FindIndex(lines, l => l.StartsWith("unlinked Pte table at gfn 0x200", StringComparison.Ordinal));
        Assert.True(section >= 0, seen);
        var frozenLines = lines.Where(l => l.Contains("frozen (FROZEN_SPTE)", StringComparison.Ordinal)).ToList();
        Assert.All(frozenLines, l => Assert.True(Array.IndexOf(lines, l) > section, seen));
        Assert.True(frozenLines.Count < 512, seen);

        var nodes = SpteTree.Parse(seen).SelectMany(Flatten).Where(n => n.Kind == SpteKind.Frozen).ToList();
        Assert.Equal(frozenLines.Count, nodes.Count);
        var svg = SptePicture.Render(seen, "mid-teardown");
        foreach (var line in frozenLines)
        {
            Assert.Matches($"<rect [^>]*fill=\"#3a3a3a\"[^>]*><title>{Regex.Escape(Svg.Escape(line.Trim()))}</title>", svg);
        }
    }

    /// <summary>Runs a seeded random schedule, looking at the model before every step.</summary>
    private sealed class Watching(int seed, Action look) : SpecKit.Mmu.Concurrency.IScheduleChooser
    {
        private readonly Random _random = new(seed);

        public int Choose(int step, IReadOnlyList<int> enabled, int previous)
        {
            look();
            return enabled[_random.Next(enabled.Count)];
        }
    }

    [Fact]
    public void The_bitmap_strip_marks_exactly_the_dirty_pages()
    {
        var vm = Vm(v =>
        {
            v.Write(0x10);
            v.Write(0x200);
        });
        Assert.Equal(0, vm.Kvm.GetDirtyLog(0, out var bitmap));
        var svg = DirtyBitmapPicture.Render(0, 0x400, bitmap, "memslot 0");
        Assert.Contains("2 of 1024 pages dirty", svg);

        // Each run of pages alike is one element whose title names its GFNs: together they
        // cover every page once, and the dirty ones are exactly the pages written.
        var state = new string?[0x400];
        foreach (Match run in Regex.Matches(svg, "<title>gfns? 0x([0-9a-f]+)(?:\\.\\.0x([0-9a-f]+))?: (clean|dirty)</title>"))
        {
            var first = Convert.ToInt32(run.Groups[1].Value, 16);
            var last = run.Groups[2].Success ? Convert.ToInt32(run.Groups[2].Value, 16) : first;
            for (var gfn = first; gfn <= last; gfn++)
            {
                Assert.Null(state[gfn]);
                state[gfn] = run.Groups[3].Value;
            }
        }

        Assert.All(state, s => Assert.NotNull(s));
        Assert.Equal([0x10, 0x200], Enumerable.Range(0, 0x400).Where(g => state[g] == "dirty"));
        Assert.Contains("<title>gfn 0x200: dirty</title>", svg);
        Assert.Contains("<title>gfns 0x11..0x3f: clean</title>", svg);

        // 16 rows of 64, each one clean run, but row 0 (clean, 0x10, clean) and row 8 (0x200, clean).
        Assert.Equal(16 + 2 + 1, Count(svg, "fill=\"url\\(#(clean|dirty)\\)\""));

        // A big slot is drawn by groups of pages.
        var big = DirtyBitmapPicture.Render(0, 1ul << 18, new ulong[(1 << 18) / 64], "1 GiB");
        Assert.Contains("a cell is 64 pages", big);
    }

    [Fact]
    public void The_log_is_a_numbered_timeline()
    {
        var vm = Vm(v => v.Write(0x10));
        var svg = EventLogPicture.Render(vm.Kvm.Log, "log");
        Assert.Contains($"log: {vm.Kvm.Log.Count} line", svg);
        Assert.Contains(">" + Svg.Escape(vm.Kvm.Log[0].Trim()) + "<", svg);
    }

    [Fact]
    public void Side_by_side_marks_what_changed_what_is_gone_and_what_is_new()
    {
        var left = Vm(v =>
        {
            v.Write(0x10);
            v.Write(0x20);
            Assert.Equal(0, v.Kvm.GetDirtyLog(0, out _));
        }).Kvm.DescribeSptes();
        var right = Vm(v =>
        {
            v.Write(0x10);
            v.Write(0x30);
        }).Kvm.DescribeSptes();
        var svg = SptePicture.SideBySide("fetched", left, "not fetched", right, "Two VMs");
        Assert.Contains("Two VMs: 3 differences", svg);
        // 0x10 lost W in the fetched VM: changed on both sides (and "changed" in the legend).
        Assert.Equal(2 + 1, Count(svg, ">changed</text>"));
        Assert.Equal(1, Count(svg, ">zapped</text>"));
        Assert.Equal(1, Count(svg, ">new</text>"));
        Assert.Matches("4K gfn 0x20 -&gt; host pfn 0x100020 [^<]*\\(zapped\\)</title>", svg);
    }

    private static IEnumerable<SpteNode> Flatten(SpteNode node) => new[] { node }.Concat(node.Children.SelectMany(Flatten));
}
