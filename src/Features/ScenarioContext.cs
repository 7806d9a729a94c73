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

    public ScenarioContext(ScenarioInfo info, string featureDirectory)
    {
        Info = info;
        _featureDirectory = featureDirectory;
        _instances[typeof(ScenarioContext)] = this;
        _instances[typeof(ScenarioInfo)] = info;
    }

    public ScenarioInfo Info { get; }

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
        Snapshot.Verify(Path.Combine(_featureDirectory, "snapshots"), snapshotName, actual, "txt", _scrubbers);
    }

    /// <summary>The snapshot's file name without <c>.verified.txt</c>, with characters a file name cannot hold replaced.</summary>
    public static string SnapshotName(ScenarioInfo info, string? name)
    {
        var parts = new[] { Path.GetFileNameWithoutExtension(info.FeatureFile), info.ScenarioName, info.ExampleLabel, name };
        return string.Join(".", parts.Where(p => !string.IsNullOrEmpty(p)).Select(Sanitize));
    }

    private static string Sanitize(string? part)
    {
        var invalid = Path.GetInvalidFileNameChars().Concat(['.', '"', '\'', ':', '*', '?', '<', '>', '|', '/', '\\']).ToHashSet();
        var text = new string(part!.Select(c => invalid.Contains(c) ? '_' : c).ToArray()).Trim();
        return text.Length > 80 ? text[..80] : text;
    }

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
