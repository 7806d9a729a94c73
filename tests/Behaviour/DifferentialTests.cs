using SpecKit.Behaviour.Steps;
using SpecKit.Mmu;
using SpecKit.Mmu.Kvm;

namespace SpecKit.Behaviour;

/// <summary>The differential report's verdicts: a difference fails unless the model of this host gives the kernel's result.</summary>
[Trait("Category", "behaviour")]
public class DifferentialTests
{
    private static Backend Named(string name) => new(name, new ModelVm(new Kvm(SpecModels.Named("base"))));

    private static readonly Backend Model = Named("model");
    private static readonly Backend Kernel = Named("kernel");
    private static readonly Backend Host = Named(VmWorld.ModelOfThisHost);
    private static readonly HostDeclaration[] Emulates = [HostDeclaration.All.Single(d => d.Tag == "host-emulates-writes")];

    [Fact]
    public void Agreeing_results_are_the_same()
    {
        var differential = new Differential();
        differential.Record("When vCPU 0 writes gfn 0x10", [(Model, "done: 0x0"), (Kernel, "done: 0x0")], []);
        Assert.Contains("[same] When vCPU 0 writes gfn 0x10", differential.Report(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_difference_without_a_declaration_fails_the_step()
    {
        var differential = new Differential();
        var error = Assert.ThrowsAny<Exception>(() => differential.Record("Then the ring holds", [(Model, "one"), (Kernel, "two")], []));
        Assert.Contains("no declared host behaviour explains it", error.Message, StringComparison.Ordinal);
        Assert.Contains("[DIFFERS] Then the ring holds", differential.Report(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_declared_difference_holds_only_where_the_model_of_the_host_gives_the_kernel_s_result()
    {
        var differential = new Differential();
        differential.Record("Then the ring holds", [(Model, "one"), (Kernel, "two"), (Host, "two")], Emulates);
        Assert.Contains("[declared] Then the ring holds", differential.Report(), StringComparison.Ordinal);
        Assert.Contains("@host-emulates-writes: ", differential.Report(), StringComparison.Ordinal);
        Assert.Equal(Emulates, differential.Used);

        Assert.ThrowsAny<Exception>(() => differential.Record("Then the ring holds again", [(Model, "one"), (Kernel, "two"), (Host, "three")], Emulates));
    }

    [Fact]
    public void A_declaration_is_used_only_by_a_difference_it_explains()
    {
        var differential = new Differential();
        differential.Record("Then the ring holds", [(Model, "one"), (Kernel, "one"), (Host, "one")], Emulates);
        Assert.Empty(differential.Used);
    }
}
