namespace SpecKit.Tests.Features;

/// <summary>
/// The Gherkin conformance corpus (cucumber/gherkin testdata), which CI puts in
/// <c>../shared/gherkin-conformance</c> beside the clone. It is read in place, never copied
/// into the repository; where it is absent the corpus tests are skipped.
/// </summary>
public static class GherkinCorpus
{
    public const string AbsentCase = "corpus absent";

    private static readonly Lazy<string?> LazyRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SpecKit.sln")))
            {
                var corpus = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "gherkin-conformance"));
                return Directory.Exists(corpus) ? corpus : null;
            }
        }

        return null;
    });

    /// <summary>The corpus folder, or null when it is absent.</summary>
    public static string? Root => LazyRoot.Value;

    /// <summary>Corpus-relative paths ("good/minimal.feature") of the .feature files of a testdata folder.</summary>
    public static IReadOnlyList<string> Features(string folder) =>
        Root is null
            ? []
            : Directory.GetFiles(Path.Combine(Root, "testdata", folder), "*.feature")
                .Select(f => $"{folder}/{Path.GetFileName(f)}")
                .Order(StringComparer.Ordinal)
                .ToList();

    /// <summary>Theory data: one case per file, or the single <see cref="AbsentCase"/> (then skipped).</summary>
    public static TheoryData<string> Cases(string folder)
    {
        var data = new TheoryData<string>();
        var files = Features(folder);
        if (files.Count == 0)
        {
            data.Add(AbsentCase);
        }

        foreach (var file in files)
        {
            data.Add(file);
        }

        return data;
    }

    public static string PathOf(string relative) => Path.Combine(Root!, "testdata", relative);
}

/// <summary>A theory over the corpus files, skipped (with the reason) when the corpus is absent.</summary>
public sealed class CorpusTheoryAttribute : TheoryAttribute
{
    public CorpusTheoryAttribute()
    {
        if (GherkinCorpus.Root is null)
        {
            Skip = "Gherkin conformance corpus absent: ../shared/gherkin-conformance was not found beside the repository";
        }
    }
}
