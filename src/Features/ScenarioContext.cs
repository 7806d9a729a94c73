using System.Reflection;
using SpecKit.Testing;

namespace SpecKit.Features;

/// <summary>
/// One scenario's objects. Binding classes and the context objects they ask for in their
/// constructors are made on first use, one per type per scenario (Reqnroll's context
/// injection), and disposed in reverse order when the scenario ends.
/// </summary>
public sealed class ScenarioContext : IDisposable
{
    private readonly Dictionary<Type, object> _instances = [];
    private readonly List<object> _created = [];
    private readonly HashSet<Type> _resolving = [];
    private readonly string _featureDirectory;
    private readonly List<Scrubber> _scrubbers = [.. Snapshot.DefaultScrubbers];
    private int _unnamedSnapshots;

    /// <param name="settings">How snapshots are checked; by default as the environment says (SPECKIT_ACCEPT).</param>
    public ScenarioContext(ScenarioInfo info, string featureDirectory, SnapshotSettings? settings = null)
    {
        Info = info;
        _featureDirectory = featureDirectory;
        _settings = settings;
        _instances[typeof(ScenarioContext)] = this;
        _instances[typeof(ScenarioInfo)] = info;
    }

    public ScenarioInfo Info { get; }

    /// <summary>The step running now (keyword, text, feature line), for steps that report per step.</summary>
    public (string Keyword, string Text, int Line)? CurrentStep { get; internal set; }

    /// <summary>The scenario's messages when the run writes them (SPECKIT_MESSAGES), else null.</summary>
    internal Messages.ScenarioMessages? Messages { get; set; }

    /// <summary>
    /// Whether attachments go anywhere: a step renders a picture only when they do, so a run
    /// without messages pays nothing for them.
    /// </summary>
    public bool IsAttaching => Messages is not null;

    /// <summary>
    /// Attaches text (a snapshot, an SVG picture) to the step running now, in the run's messages
    /// and so its report. An image is sent base64 encoded, which is how the HTML report shows it.
    /// </summary>
    public void Attach(string body, string mediaType, string? fileName = null)
    {
        if (Messages is { } messages)
        {
            var image = mediaType.StartsWith("image/", StringComparison.Ordinal);
            messages.Attach(image ? Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(body)) : body, mediaType, fileName, base64: image);
        }
    }

    /// <summary>Attaches bytes (an image), base64 encoded.</summary>
    public void Attach(byte[] body, string mediaType, string? fileName = null) => Messages?.Attach(Convert.ToBase64String(body), mediaType, fileName, base64: true);

    /// <summary>The objects the scenario made (binding classes and what they were injected), in the order made.</summary>
    public IReadOnlyList<object> Instances => _created;

    /// <summary>
    /// Under SPECKIT_MODEL, the model that replaced the base one in this scenario (set by
    /// <see cref="ModelSwitch.Resolve"/>): snapshots are then compared, never written.
    /// </summary>
    public string? ComparedModel { get; internal set; }

    /// <summary>Under SPECKIT_MODEL, every snapshot of this scenario that came out differently, as a diff.</summary>
    public IReadOnlyList<string> SnapshotDifferences => _differences;

    private readonly SnapshotSettings? _settings;
    private readonly List<string> _differences = [];

    /// <summary>
    /// Provides the scenario's instance of <typeparamref name="T"/> before any step asks for it
    /// (a hook's, or a test's that drives steps itself); it is not disposed with the scenario.
    /// </summary>
    public void Register<T>(T instance)
        where T : class
    {
        if (!_instances.TryAdd(typeof(T), instance))
        {
            throw new InvalidOperationException($"the scenario already has its {typeof(T).Name}");
        }
    }

    /// <summary>The scenario's instance of <typeparamref name="T"/>, made with its widest public constructor.</summary>
    public T Get<T>()
        where T : class => (T)Get(typeof(T));

    public object Get(Type type)
    {
        if (_instances.TryGetValue(type, out var existing))
        {
            return existing;
        }

        if (!_resolving.Add(type))
        {
            throw new InvalidOperationException($"Context injection cycle: {string.Join(" -> ", _resolving.Select(t => t.Name))} -> {type.Name}");
        }

        try
        {
            var constructor = type.GetConstructors(BindingFlags.Public | BindingFlags.Instance).OrderByDescending(c => c.GetParameters().Length).FirstOrDefault()
                ?? throw new InvalidOperationException($"{type.FullName} has no public constructor, so it cannot be injected into a scenario");
            var arguments = constructor.GetParameters().Select(p => Get(p.ParameterType)).ToArray();
            var instance = constructor.Invoke(arguments);
            _instances[type] = instance;
            _created.Add(instance);
            return instance;
        }
        finally
        {
            _resolving.Remove(type);
        }
    }

    /// <summary>
    /// Adds a scrubber for this scenario's snapshots, for values a step knows vary between runs
    /// (e.g. host PFNs of page tables when allocation order is not part of the behaviour).
    /// </summary>
    public void AddScrubber(string name, string pattern) => _scrubbers.Add(new Scrubber(name, pattern));

    /// <summary>
    /// Checks <paramref name="actual"/> against the scenario's snapshot,
    /// <c>{Feature}.{Scenario}[.{example}][.{name}].verified.txt</c> in the feature's <c>snapshots/</c> folder.
    /// A scenario with several snapshots names them, or they are numbered in order.
    /// </summary>
    public void Verify(string actual, string? name = null)
    {
        name ??= _unnamedSnapshots++ == 0 ? null : _unnamedSnapshots.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var snapshotName = SnapshotName(Info, name);
        SnapshotRegistry.Claim(_featureDirectory, snapshotName);
        Messages?.Attach(actual, "text/plain", snapshotName + ".txt", base64: false);
        if (ComparedModel is not null)
        {
            // Another model's output is compared with the base's snapshot, and never accepted
            // over it; every snapshot is compared, so the verdict lists all that differ. Where
            // the output names its model, the name reads as the base's, so that a snapshot does
            // not differ by the name alone.
            var asBase = System.Text.RegularExpressions.Regex.Replace(actual, $@"\b{System.Text.RegularExpressions.Regex.Escape(ComparedModel)}\b", ModelSwitch.BaseModel);
            if (Snapshot.Compare(Path.Combine(_featureDirectory, "snapshots"), snapshotName, asBase, "txt", _scrubbers) is { } difference)
            {
                _differences.Add(difference);
            }

            return;
        }

        Snapshot.Verify(Path.Combine(_featureDirectory, "snapshots"), snapshotName, actual, "txt", _scrubbers, _settings);
    }

    /// <summary>
    /// The verified text of this scenario's snapshot <paramref name="name"/>, or null: under
    /// SPECKIT_MODEL, what the base model gave, for a step that shows the two side by side.
    /// </summary>
    public string? VerifiedSnapshot(string? name)
    {
        var path = Path.Combine(_featureDirectory, "snapshots", SnapshotName(Info, name) + ".verified.txt");
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    /// <summary>The snapshot's file name without <c>.verified.txt</c>, with characters a file name cannot hold replaced.</summary>
    public static string SnapshotName(ScenarioInfo info, string? name) => SnapshotNames.Stem(info.FeatureFile, info.ScenarioName, info.ExampleLabel, name);

    public void Dispose()
    {
        for (var i = _created.Count - 1; i >= 0; i--)
        {
            (_created[i] as IDisposable)?.Dispose();
        }
    }
}

/// <summary>Which scenario snapshots a test run claimed, for the check that finds verified files nothing claims.</summary>
public static class SnapshotRegistry
{
    private static readonly HashSet<string> Claimed = [];

    public static void Claim(string featureDirectory, string snapshotName)
    {
        lock (Claimed)
        {
            Claimed.Add(Path.Combine(featureDirectory, "snapshots", snapshotName + ".verified.txt"));
        }
    }

    public static bool IsClaimed(string path)
    {
        lock (Claimed)
        {
            return Claimed.Contains(path);
        }
    }
}
