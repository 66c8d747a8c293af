using System.CommandLine;

namespace Ferry.Cli;

/// <summary><c>ferry run FILE</c> and <c>ferry check FILE</c>: a gateway described in a YAML or JSON file.</summary>
internal static class RunCommand
{
    public static Command Create(CliIo io, bool checkOnly)
    {
        var file = new Argument<FileInfo>("FILE") { Description = "the pipeline file (YAML or JSON)" };
        var command = new Command(checkOnly ? "check" : "run", checkOnly ? "validate a pipeline file and exit (0 = valid, 2 = every problem listed)" : "run the pipeline a file describes")
        {
            file,
        };
        command.SetAction((_, _) => Task.FromResult(io.Stdout is null ? 1 : 0));
        return command;
    }
}
