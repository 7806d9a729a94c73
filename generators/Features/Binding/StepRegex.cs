using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace SpecKit.Generators.Features.Binding;

/// <summary>
/// Every regex the feature generator builds, built once per process: a step pattern is checked
/// when it is compiled (its groups counted) and then matched by the binder and the step library,
/// and a parameter type's regex is checked at each use; all of them are the same object. With
/// the compiler server a regex also outlives the build that made it.
/// </summary>
internal static class StepRegex
{
    private static readonly ConcurrentDictionary<string, Regex> Cache = new();

    /// <summary>The regex for <paramref name="pattern"/>; throws ArgumentException, as its constructor does, if it is invalid (and then caches nothing).</summary>
    public static Regex Get(string pattern) => Cache.GetOrAdd(pattern, static p => new Regex(p, RegexOptions.CultureInvariant));
}
