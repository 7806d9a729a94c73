using SpecKit.Testing;

namespace SpecKit.Features;

/// <summary>
/// <c>SPECKIT_MODEL=Name</c>: every scenario that runs the base model runs the model Name
/// instead, against the base's expectations and snapshots, and says whether it came out the
/// same. It is how a reviewer asks "what does my patch change?" without editing every
/// Examples table. The steps that pick a model ask <see cref="Resolve"/>; the scenario's report
/// (<see cref="ScenarioRun"/>) gives the verdict, and every verdict of the run is collected
/// in <see cref="SummaryPath"/>.
/// </summary>
public sealed class ModelSwitch
{
    private readonly ScenarioContext _context;
    private readonly string? _requested;

    public ModelSwitch(ScenarioContext context)
        : this(context, Scoped.Value ?? Requested)
    {
    }

    private static readonly AsyncLocal<string?> Scoped = new();

    /// <summary>
    /// Runs the scenarios started in this flow of control (and not other tests beside it) as
    /// SPECKIT_MODEL=<paramref name="model"/> would, until disposed: how a test runs generated
    /// scenarios under another model in its own process. Their verdicts go to no summary file.
    /// </summary>
    public static IDisposable Use(string model) => Use(model, null);

    /// <summary>
    /// As <see cref="Use(string)"/>, and every verdict (the scenario, <c>same</c> or <c>differs</c>)
    /// goes to <paramref name="verdicts"/>: how <c>speckit mutate</c> runs the suite under many
    /// models in one process.
    /// </summary>
    public static IDisposable Use(string model, Action<string, string>? verdicts)
    {
        var (previous, previousVerdicts) = (Scoped.Value, ScopedVerdicts.Value);
        (Scoped.Value, ScopedVerdicts.Value) = (model, verdicts);
        return new Scope(() => (Scoped.Value, ScopedVerdicts.Value) = (previous, previousVerdicts));
    }

    private static readonly AsyncLocal<Action<string, string>?> ScopedVerdicts = new();

    /// <summary>How a verdict names its scenario: the feature file and line (the Examples row's), and the name.</summary>
    public static string Describe(ScenarioInfo info) => $"{info.FeatureFile}:{info.ExampleLine ?? info.Line}  {info.DisplayName}";

    /// <summary>For the runtime's own tests, which must not depend on the user's SPECKIT_MODEL.</summary>
    internal ModelSwitch(ScenarioContext context, string? requested)
    {
        _context = context;
        _requested = requested;
    }

    public const string BaseModel = "base";

    /// <summary>The model SPECKIT_MODEL names, or null when the suite runs as written.</summary>
    public static string? Requested { get; } = Environment.GetEnvironmentVariable("SPECKIT_MODEL") is { Length: > 0 } model ? model.Trim() : null;

    /// <summary>The file that lists every scenario's verdict under SPECKIT_MODEL, one per line.</summary>
    public static string SummaryPath => Path.Combine(RepoPaths.Root, "TestResults", $"speckit-model-{Requested}.txt");

    /// <summary>The model a step should run: the one it names, except that the base model is replaced under SPECKIT_MODEL.</summary>
    public string Resolve(string model)
    {
        if (_requested is not { } requested || model != BaseModel)
        {
            return model;
        }

        _context.ComparedModel = requested;
        return requested;
    }

    /// <summary>
    /// The models a step that checks "every model" checks, given all of them: as written, all;
    /// under SPECKIT_MODEL=M, M alone (in place of the base). The others come out as they do when
    /// the suite runs as written, so only M's check can differ, and a check of another model
    /// (in <c>speckit mutate</c>'s scratch build, the other mutants) must not decide M's verdict.
    /// </summary>
    public IReadOnlyList<string> Every(IReadOnlyList<string> all) => _requested is null ? all : [Resolve(BaseModel)];

    private static readonly object SummaryLock = new();
    private static bool _summaryStarted;

    /// <summary>Appends one verdict to the run's summary (the file is started afresh by the run's first verdict).</summary>
    internal static void Record(ScenarioInfo info, string verdict)
    {
        if (ScopedVerdicts.Value is { } verdicts)
        {
            verdicts(Describe(info), verdict);
            return;
        }

        if (Requested is null)
        {
            return; // a test of the runtime, not a SPECKIT_MODEL run
        }

        lock (SummaryLock)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(SummaryPath)!);
            if (!_summaryStarted)
            {
                File.WriteAllText(SummaryPath, $"# SPECKIT_MODEL={Requested}: each scenario that runs the base model, run under {Requested} against the base's expectations\n");
                _summaryStarted = true;
            }

            File.AppendAllText(SummaryPath, $"{verdict,-13} {Describe(info)}\n");
        }
    }
}
