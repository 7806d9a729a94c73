using System.CommandLine;
using System.Reflection;

namespace SpecKit.Cli;

/// <summary>A subcommand of <c>speckit</c>: a class with a parameterless constructor that builds its <see cref="Command"/>.</summary>
internal interface ICliCommand
{
    Command Create();

    /// <summary>Every command in this assembly, by name.</summary>
    static IEnumerable<Command> All() =>
        typeof(ICliCommand).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
            .Select(t => ((ICliCommand)Activator.CreateInstance(t)!).Create())
            .OrderBy(c => c.Name, StringComparer.Ordinal);
}
