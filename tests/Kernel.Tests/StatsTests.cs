namespace SpecKit.Kernel.Tests;

/// <summary>KVM_GET_STATS_FD's binary statistics for a VM (kvm_vm_stats_desc in arch/x86/kvm/x86.c).</summary>
public sealed class StatsTests : KernelTest
{
    private const ulong Gpa = 0x10_0000;

    [KvmFact]
    public void The_VM_reports_its_leaf_SPTEs_by_size()
    {
        var stats = Vm.GetStats().Value;
        Assert.StartsWith("kvm-", stats.Id, StringComparison.Ordinal);
        foreach (var name in new[] { "pages_4k", "pages_2m", "pages_1g" })
        {
            var stat = stats.Find(name);
            Assert.NotNull(stat);
            Assert.Equal(KvmStatType.Instant, stat.Type);
        }
    }

    [KvmFact]
    public void Guest_stores_show_in_the_page_counts_only_where_the_host_maps_SPTEs()
    {
        Memslot(1, Gpa, 64);
        Done(Vcpu().Run(Enumerable.Range(0, 64).Select(i => GuestAccess.Write(Gpa + ((ulong)i * Page), 1)).ToList()));
        var stats = Vm.GetStats().Value;
        var mapped = stats["pages_4k"] + stats["pages_2m"] + stats["pages_1g"];
        if (Host.StatsCountMappedPages)
        {
            Assert.True(mapped >= 64, $"64 written pages, {mapped} mapped");
        }
        else
        {
            Assert.Equal(0UL, mapped);
        }
    }

    [KvmFact]
    public void A_statistic_the_host_does_not_report_is_named_in_the_error() =>
        Assert.Contains("pages_4k", Assert.Throws<KeyNotFoundException>(() => Vm.GetStats().Value["no_such_stat"]).Message, StringComparison.Ordinal);
}
