namespace SpecKit.Testing;

/// <summary>Where the repository and <c>../shared</c> are, found from the test binary upwards.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> LazyRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SpecKit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"SpecKit.sln not found above {AppContext.BaseDirectory}");
    });

    public static string Root => LazyRoot.Value;

    public static string Spec => Path.Combine(Root, "spec");

    /// <summary>The shared folder CI puts beside the clone; null where it is absent.</summary>
    public static string? Shared
    {
        get
        {
            var shared = Path.GetFullPath(Path.Combine(Root, "..", "shared"));
            return Directory.Exists(shared) ? shared : null;
        }
    }

    /// <summary>A path relative to the repository root, with forward slashes, for messages and snapshots.</summary>
    public static string Relative(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');
}
