// Compiled into the feature runtime and, linked, into the feature generator, so that the
// generator can check at build time that no two scenarios of a feature share a snapshot file.
namespace SpecKit.Features;

/// <summary>
/// The file names of scenario snapshots: <c>{feature}.{scenario}[.{example}][.{name}]</c>, each
/// part with the characters a file name cannot hold (on any system) replaced by '_' and cut at
/// 80 characters, so that the same scenario names the same file on Linux, macOS and Windows.
/// </summary>
internal static class SnapshotNames
{
    private const int MaxPart = 80;

    public static string Stem(string featureFile, string scenarioName, string? exampleLabel, string? name)
    {
        var file = featureFile.Replace('\\', '/');
        var stem = file.Substring(file.LastIndexOf('/') + 1);
        stem = stem.EndsWith(".feature", System.StringComparison.Ordinal) ? stem.Substring(0, stem.Length - ".feature".Length) : stem;
        var parts = new[] { stem, scenarioName, exampleLabel, name };
        return string.Join(".", System.Linq.Enumerable.Select(System.Linq.Enumerable.Where(parts, p => !string.IsNullOrEmpty(p)), p => Part(p!)));
    }

    /// <summary>One part: '.' is the separator, and Windows forbids " * : &lt; &gt; ? | / \ and control characters.</summary>
    public static string Part(string part)
    {
        var chars = part.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] < ' ' || chars[i] is '.' or '"' or '\'' or ':' or '*' or '?' or '<' or '>' or '|' or '/' or '\\')
            {
                chars[i] = '_';
            }
        }

        var text = new string(chars).Trim();
        return text.Length > MaxPart ? text.Substring(0, MaxPart) : text;
    }
}
