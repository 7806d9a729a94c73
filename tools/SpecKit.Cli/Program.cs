using System.CommandLine;
using SpecKit.Cli;

// Every ICliCommand in this assembly is a subcommand, so a new command is a new file.
var root = new RootCommand("SpecKit: tools over the MMU model and its test runs");
foreach (var command in ICliCommand.All())
{
    root.Subcommands.Add(command);
}

return root.Parse(args).Invoke();
