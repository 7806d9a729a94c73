using System.Reflection;
using System.Runtime.InteropServices;
using Cucumber.Messages;
using Gherkin.CucumberMessages;
using Gherkin.CucumberMessages.Pickles;
using Io.Cucumber.Messages.Types;
using SpecKit.Testing;

namespace SpecKit.Features.Messages;

/// <summary>
/// The Cucumber Messages stream of one test run, written when <c>SPECKIT_MESSAGES</c> names a
/// folder (the stream is <c>&lt;folder&gt;/&lt;test assembly&gt;.ndjson</c>) or a
/// <c>.ndjson</c> file. The run's header (meta, testRunStarted) comes first; each feature's
/// source, gherkinDocument and, as its scenarios run, pickles come from the official Gherkin
/// parser on the feature file; each scenario's messages are written together when it ends, so
/// scenarios running in parallel never interleave; testRunFinished is written when the process
/// exits; with <c>SPECKIT_REPORT=1</c> the HTML report is written beside the stream as it goes.
/// </summary>
public sealed class MessageStream
{
    public const string Variable = "SPECKIT_MESSAGES";
    public const string ReportVariable = "SPECKIT_REPORT";

    private static readonly object OpenLock = new();
    private static MessageStream? _current;
    private static volatile bool _opened;

    private readonly object _lock = new();
    private readonly FileStream _file;
    private readonly System.Buffers.ArrayBufferWriter<byte> _line = new(1 << 12);
    private readonly System.Text.Json.Utf8JsonWriter _json;
    private readonly HtmlReport? _report;
    private readonly IIdGenerator _gherkinIds = new IncrementingIdGenerator();
    private readonly Dictionary<string, FeatureMessages?> _features = new(StringComparer.Ordinal);
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);
    private readonly string _testRunStartedId = "run";
    private long _nextId;
    private bool _anyFailed;
    private bool _finished;

    private MessageStream(string path, string? reportPath)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        _json = MessagesJson.Writer(_line);
        _report = reportPath is null ? null : new HtmlReport(reportPath);
        Write(Envelope.Create(Meta()));
        Write(Envelope.Create(new TestRunStarted(Now(), _testRunStartedId)));
        _file.Flush();
    }

    /// <summary>Where the stream is written.</summary>
    public string Path { get; }

    public string TestRunStartedId => _testRunStartedId;

    /// <summary>
    /// The run's stream, opened by the first scenario that asks, or null when
    /// <c>SPECKIT_MESSAGES</c> is unset. <paramref name="testAssembly"/> names the file in a folder.
    /// </summary>
    public static MessageStream? For(Assembly testAssembly)
    {
        if (Scoped.Value is { } scoped)
        {
            return scoped;
        }

        if (_opened)
        {
            return _current;
        }

        lock (OpenLock)
        {
            if (!_opened)
            {
                _current = Open(Environment.GetEnvironmentVariable(Variable), testAssembly);
                _opened = true;
            }
        }

        return _current;
    }

    /// <summary>The stream a scenario starting here writes to, if it is already known (redirected, or opened by an earlier scenario).</summary>
    public static bool Opened(out MessageStream? stream)
    {
        stream = Scoped.Value ?? _current;
        return Scoped.Value is not null || _opened;
    }

    private static readonly AsyncLocal<MessageStream?> Scoped = new();

    private static readonly bool FromEnvironment = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable));

    /// <summary>Whether a scenario starting here writes messages, without opening the stream.</summary>
    public static bool Enabled => FromEnvironment || Scoped.Value is not null;

    /// <summary>
    /// Sends the messages of the scenarios run in this flow of control (and not other tests
    /// running beside it) to <paramref name="stream"/> until disposed: how a test records a run
    /// of its own.
    /// </summary>
    public static IDisposable Redirect(MessageStream stream)
    {
        var previous = Scoped.Value;
        Scoped.Value = stream;
        return new Scope(() => Scoped.Value = previous);
    }

    /// <summary>Opens a stream at a path of a test's own choosing, ended with <see cref="Finish"/>; see <see cref="Redirect"/>.</summary>
    public static MessageStream OpenAt(string path, string? reportPath = null) => new(path, reportPath);

    private static MessageStream? Open(string? target, Assembly testAssembly)
    {
        if (string.IsNullOrEmpty(target))
        {
            return null;
        }

        var path = target.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase)
            ? target
            : System.IO.Path.Combine(target, testAssembly.GetName().Name + ".ndjson");
        var report = Environment.GetEnvironmentVariable(ReportVariable) is "1" or "true" ? System.IO.Path.ChangeExtension(path, ".html") : null;
        var stream = new MessageStream(path, report);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => stream.Finish();
        return stream;
    }

    internal string NextId(string prefix) => prefix + Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The feature's messages, parsed by the official parser on first use: source and
    /// gherkinDocument are written then. Null when the file cannot be read or parsed, so the
    /// scenario runs on without messages.
    /// </summary>
    internal FeatureMessages? Feature(string featureFile)
    {
        lock (_lock)
        {
            if (_features.TryGetValue(featureFile, out var known))
            {
                return known;
            }

            FeatureMessages? feature = null;
            try
            {
                var text = File.ReadAllText(System.IO.Path.Combine(RepoPaths.Root, featureFile));
                var ast = new Gherkin.Parser().Parse(new StringReader(text));
                var document = new AstMessagesConverter(_gherkinIds).ConvertGherkinDocumentToEventArgs(ast, featureFile);
                var pickles = new PickleCompiler(_gherkinIds).Compile(document);
                feature = new FeatureMessages(document, pickles);
                Write(Envelope.Create(new Source(featureFile, text, SourceMediaType.TEXT_X_CUCUMBER_GHERKIN_PLAIN)));
                Write(Envelope.Create(document));
            }
            catch (System.Exception e) when (e is IOException or Gherkin.CompositeParserException or Gherkin.ParserException)
            {
                feature = null;
            }

            _features[featureFile] = feature;
            return feature;
        }
    }

    /// <summary>
    /// Whether a step definition, hook or pickle is in the stream already, so a scenario need
    /// not make its message again (WriteScenario still writes each id once).
    /// </summary>
    internal bool Written(string id)
    {
        lock (_lock)
        {
            return _written.Contains(id);
        }
    }

    /// <summary>A scenario's messages, written together; definitions and pickles the stream has not had yet go first.</summary>
    internal void WriteScenario(IEnumerable<Envelope> definitions, IEnumerable<Envelope> scenario, bool failed)
    {
        lock (_lock)
        {
            if (_finished)
            {
                return;
            }

            foreach (var envelope in definitions)
            {
                var id = envelope.StepDefinition?.Id ?? envelope.Hook?.Id ?? envelope.Pickle?.Id;
                if (id is not null && _written.Add(id))
                {
                    Write(envelope);
                }
            }

            foreach (var envelope in scenario)
            {
                Write(envelope);
            }

            _anyFailed |= failed;

            // A scenario's lines reach the file when it ends, so a test host stopped after its
            // last test leaves whole scenarios behind.
            _file.Flush();
        }
    }

    /// <summary>Writes testRunFinished and closes the stream and its HTML report.</summary>
    public void Finish()
    {
        lock (_lock)
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            Write(Envelope.Create(new TestRunFinished(null, !_anyFailed, Now(), null, _testRunStartedId)));
            _json.Dispose();
            _file.Dispose();
            _report?.Dispose();
        }
    }

    /// <summary>
    /// One envelope, one line: serialized as UTF-8 into a line buffer (no string in between) and
    /// copied into the file's buffer, unless the HTML report wants the line too. The JSON writer
    /// is not on the file itself: its Flush, once a line, flushes the stream under it, which
    /// made every line a write system call (MessagesBench); the file is flushed once a scenario.
    /// </summary>
    private void Write(Envelope envelope)
    {
        if (_report is null)
        {
            MessagesJson.Write(_json, envelope);
            _file.Write(_line.WrittenSpan);
            _file.WriteByte((byte)'\n');
            _line.ResetWrittenCount();
            return;
        }

        var json = MessagesJson.Serialize(envelope);
        _file.Write(System.Text.Encoding.UTF8.GetBytes(json));
        _file.WriteByte((byte)'\n');
        _report.Write(envelope, json);
    }

    internal static Timestamp Now() => Converters.ToTimestamp(DateTime.UtcNow);

    private static Meta Meta() => new(
        ProtocolVersion.Version,
        new Product("SpecKit", typeof(MessageStream).Assembly.GetName().Version?.ToString() ?? "0"),
        new Product(".NET", Environment.Version.ToString()),
        new Product(RuntimeInformation.OSDescription, null),
        new Product(RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(), null),
        null);
}

/// <summary>One feature as the official parser reads it: its document and every pickle, found by the scenario's line and its Examples row's.</summary>
internal sealed class FeatureMessages
{
    private readonly Dictionary<(long Scenario, long? Row), Pickle> _pickles = [];
    private readonly Dictionary<string, long> _lines = new(StringComparer.Ordinal);

    public FeatureMessages(GherkinDocument document, List<Pickle> pickles)
    {
        Document = document;
        Index(document.Feature?.Children ?? []);
        foreach (var pickle in pickles)
        {
            var scenario = _lines[pickle.AstNodeIds[0]];
            long? row = pickle.AstNodeIds.Count > 1 ? _lines[pickle.AstNodeIds[1]] : null;
            _pickles[(scenario, row)] = pickle;
        }
    }

    public GherkinDocument Document { get; }

    /// <summary>The line of a step, scenario or Examples row, by its AST node id.</summary>
    public long LineOf(string astNodeId) => _lines.TryGetValue(astNodeId, out var line) ? line : 0;

    public Pickle? PickleFor(int scenarioLine, int? exampleLine) =>
        _pickles.TryGetValue((scenarioLine, exampleLine), out var pickle) ? pickle : null;

    private void Index(IEnumerable<FeatureChild> children)
    {
        foreach (var child in children)
        {
            Index(child.Background, child.Scenario);
            foreach (var ruleChild in child.Rule?.Children ?? [])
            {
                Index(ruleChild.Background, ruleChild.Scenario);
            }
        }
    }

    private void Index(Background? background, Scenario? scenario)
    {
        if (background is not null)
        {
            Steps(background.Steps);
        }

        if (scenario is not null)
        {
            _lines[scenario.Id] = scenario.Location.Line;
            Steps(scenario.Steps);
            foreach (var row in scenario.Examples.SelectMany(e => e.TableBody))
            {
                _lines[row.Id] = row.Location.Line;
            }
        }
    }

    private void Steps(IEnumerable<Step> steps)
    {
        foreach (var step in steps)
        {
            _lines[step.Id] = step.Location.Line;
        }
    }
}
