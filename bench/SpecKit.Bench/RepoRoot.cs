namespace SpecKit.Bench;

internal static class RepoRoot
{
    /// <summary>BenchmarkDotNet runs benchmarks from a generated project deep under bin/, so search upwards.</summary>
    public static string Find()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "SpecKit.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("SpecKit.sln not found");
    }
}
