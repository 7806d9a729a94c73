using System.Diagnostics;

namespace SpecKit.Report.Tests;

/// <summary>Headless Chromium from the distribution's packages (apt-get install chromium), or why there is none.</summary>
internal static class Browser
{
    private static readonly Lazy<string?> Found = new(() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => System.IO.Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists));

    public static string? Path => Found.Value;

    public const string Missing = "no headless browser: chromium, chromium-browser or google-chrome is not on PATH (apt-get install chromium)";

    /// <summary>Runs the browser headless on <paramref name="url"/> with <paramref name="arguments"/>; its standard output, or an exception when it fails or hangs.</summary>
    public static string Run(string url, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path ?? throw new InvalidOperationException(Missing))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--virtual-time-budget=20000" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add(url);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path} did not finish within 120 s on {url}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path} exited with {process.ExitCode}: {error.Result}");
        }

        return output.Result;
    }
}

/// <summary>A test that needs the browser: skipped, with the reason, where there is none.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (Browser.Path is null)
        {
            Skip = Browser.Missing;
        }
    }
}
