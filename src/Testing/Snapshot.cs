using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace SpecKit.Testing;

/// <summary>
/// Snapshot verification with Verify's conventions: the expected text lives in
/// <c>{name}.verified.{ext}</c>; a mismatch writes <c>{name}.received.{ext}</c> beside it and
/// fails with a unified diff. Snapshots are UTF-8 without a BOM and LF-only, so they diff
/// cleanly in review on every platform.
///
/// Accept mode: with <c>SPECKIT_ACCEPT=1</c> a mismatch overwrites the verified file instead
/// of failing. It is refused when <c>CI=true</c>, so CI can never bless its own output.
/// To accept every received file at once run <c>scripts/accept-snapshots</c>.
/// </summary>
public static class Snapshot
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Whether this run accepts snapshots: <c>SPECKIT_ACCEPT=1</c> (refused when <c>CI=true</c>).</summary>
    public static bool AcceptMode => SnapshotSettings.FromEnvironment().Accept;

    /// <summary>
    /// Replaces each scrubber's matches with <c>{Name_n}</c>, numbering distinct values in order of
    /// appearance so that "the same value twice" stays visible after scrubbing.
    /// </summary>
    public static string Scrub(string text, IEnumerable<Scrubber> scrubbers)
    {
        foreach (var scrubber in scrubbers)
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            text = scrubber.Pattern.Replace(text, m =>
            {
                if (!seen.TryGetValue(m.Value, out var n))
                {
                    n = seen.Count + 1;
                    seen[m.Value] = n;
                }

                return $"{{{scrubber.Name}_{n}}}";
            });
        }

        return text;
    }

    /// <summary>Normalizes line endings and the trailing newline, so editors cannot cause a mismatch.</summary>
    public static string Normalize(string text) => text.Replace("\r\n", "\n").TrimStart('\uFEFF').TrimEnd('\n') + "\n";

    /// <summary>
    /// Scrubbers applied to every snapshot before comparison: values that change from run to run
    /// (GUIDs, timestamps) are replaced by stable placeholders, as Verify does. Durations are not
    /// scrubbed by default because "10 ms" is often part of a step; a scenario adds what it needs.
    /// </summary>
    public static readonly IReadOnlyList<Scrubber> DefaultScrubbers =
    [
        new("Guid", @"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        new("DateTime", @"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?\b"),
    ];

    /// <summary>
    /// Checks <paramref name="actual"/> against <c>{directory}/{name}.verified.{extension}</c>.
    /// <paramref name="settings"/> default to the environment's (<c>SPECKIT_ACCEPT</c>); a test of
    /// this code passes its own, so that a user's accept switch cannot change what it checks.
    /// </summary>
    public static void Verify(string directory, string name, string actual, string extension = "txt", IEnumerable<Scrubber>? scrubbers = null, SnapshotSettings? settings = null)
    {
        settings ??= SnapshotSettings.FromEnvironment();
        var verifiedPath = Path.Combine(directory, $"{name}.verified.{extension}");
        var receivedPath = Path.Combine(directory, $"{name}.received.{extension}");
        var normalized = Normalize(Scrub(actual, scrubbers ?? DefaultScrubbers));
        var mismatch = Compare(verifiedPath, normalized, RepoPaths.Relative(receivedPath));
        if (mismatch is null)
        {
            File.Delete(receivedPath);
            return;
        }

        Directory.CreateDirectory(directory);
        if (settings.Accept)
        {
            File.WriteAllText(verifiedPath, normalized, Utf8NoBom);
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, normalized, Utf8NoBom);
        throw new SnapshotMismatchException(mismatch);
    }

    /// <summary>
    /// What differs between the verified snapshot and <paramref name="actual"/> (a unified diff),
    /// or null when nothing does. It writes nothing: no received file, no accepted one.
    /// </summary>
    public static string? Compare(string directory, string name, string actual, string extension = "txt", IEnumerable<Scrubber>? scrubbers = null) =>
        Compare(Path.Combine(directory, $"{name}.verified.{extension}"), Normalize(Scrub(actual, scrubbers ?? DefaultScrubbers)), null);

    private static string? Compare(string verifiedPath, string normalized, string? receivedPath)
    {
        var expected = File.Exists(verifiedPath) ? Normalize(File.ReadAllText(verifiedPath)) : null;
        if (expected == normalized)
        {
            return null;
        }

        var message = new StringBuilder();
        if (expected is null)
        {
            message.AppendLine($"No snapshot yet: {RepoPaths.Relative(verifiedPath)} does not exist.");
            message.AppendLine(receivedPath is null ? "Received:" : $"Review {receivedPath} and rename it to .verified to accept it.");
            if (receivedPath is null)
            {
                message.Append(normalized);
            }
        }
        else
        {
            message.AppendLine($"Snapshot mismatch: {RepoPaths.Relative(verifiedPath)}");
            if (receivedPath is not null)
            {
                message.AppendLine($"Received: {receivedPath} (rename to .verified to accept, or run scripts/accept-snapshots)");
            }

            message.Append(UnifiedDiff(expected, normalized, RepoPaths.Relative(verifiedPath), receivedPath ?? "this run"));
        }

        return message.ToString();
    }

    /// <summary>
    /// Lists verified files under <paramref name="directory"/> that no test claimed, so a renamed
    /// or deleted scenario does not leave a stale snapshot behind.
    /// </summary>
    public static IReadOnlyList<string> Unclaimed(string directory, IEnumerable<string> claimedNames, string extension)
    {
        var claimed = new HashSet<string>(claimedNames.Select(n => $"{n}.verified.{extension}"), StringComparer.Ordinal);
        return Directory.Exists(directory)
            ? Directory.GetFiles(directory, $"*.verified.{extension}")
                .Select(Path.GetFileName)
                .Where(f => !claimed.Contains(f!))
                .Select(f => f!)
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];
    }

    /// <summary>A unified diff with three lines of context, as <c>git diff</c> shows it.</summary>
    public static string UnifiedDiff(string expected, string actual, string expectedName, string actualName)
    {
        var lines = new InlineDiffBuilder(new DiffPlex.Differ()).BuildDiffModel(expected.TrimEnd('\n'), actual.TrimEnd('\n'), ignoreWhitespace: false).Lines;
        var text = new StringBuilder();
        text.AppendLine($"--- {expectedName}");
        text.AppendLine($"+++ {actualName}");
        const int context = 3;
        var changed = lines.Select((l, i) => (l, i)).Where(x => x.l.Type != ChangeType.Unchanged).Select(x => x.i).ToList();
        var i = 0;
        while (i < changed.Count)
        {
            var start = Math.Max(0, changed[i] - context);
            var end = changed[i];
            while (i < changed.Count && changed[i] <= end + (2 * context))
            {
                end = changed[i++];
            }

            end = Math.Min(lines.Count - 1, end + context);
            var oldLine = 1 + lines.Take(start).Count(l => l.Type != ChangeType.Inserted);
            var newLine = 1 + lines.Take(start).Count(l => l.Type != ChangeType.Deleted);
            var hunk = lines.Skip(start).Take(end - start + 1).ToList();
            text.AppendLine($"@@ -{oldLine},{hunk.Count(l => l.Type != ChangeType.Inserted)} +{newLine},{hunk.Count(l => l.Type != ChangeType.Deleted)} @@");
            foreach (var line in hunk)
            {
                var prefix = line.Type switch
                {
                    ChangeType.Inserted => '+',
                    ChangeType.Deleted => '-',
                    _ => ' ',
                };
                text.Append(prefix).AppendLine(line.Text);
            }
        }

        return text.ToString();
    }
}

public sealed class SnapshotMismatchException(string message) : Exception(message);

/// <summary>How snapshots are checked in this run: whether a mismatch overwrites the verified file.</summary>
public sealed record SnapshotSettings(bool Accept)
{
    /// <summary>Mismatches fail: what the kit's own tests of snapshotting use, whatever the user's environment says.</summary>
    public static readonly SnapshotSettings Strict = new(Accept: false);

    public static SnapshotSettings FromEnvironment() =>
        From(Environment.GetEnvironmentVariable("SPECKIT_ACCEPT"), Environment.GetEnvironmentVariable("CI"));

    /// <summary><c>SPECKIT_ACCEPT=1</c> (or <c>true</c>) accepts, except under <c>CI=true</c>, where it is refused so CI never blesses its own output.</summary>
    public static SnapshotSettings From(string? accept, string? ci)
    {
        var accepting = accept is "1" or "true";
        if (accepting && string.Equals(ci, "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new SnapshotMismatchException("SPECKIT_ACCEPT is refused when CI=true: accept snapshots locally and commit the .verified files.");
        }

        return new SnapshotSettings(accepting);
    }
}

/// <summary>A named pattern whose matches vary between runs and are replaced in snapshots.</summary>
public sealed class Scrubber(string name, string pattern)
{
    public string Name { get; } = name;

    public System.Text.RegularExpressions.Regex Pattern { get; } = new(pattern, System.Text.RegularExpressions.RegexOptions.CultureInvariant);
}
