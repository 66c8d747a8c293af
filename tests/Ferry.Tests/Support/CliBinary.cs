using System.Diagnostics;
using Ferry.Cli;

namespace Ferry.Tests.Support;

/// <summary>
/// The <c>ferry</c> program for black-box tests: the native binary named by <c>FERRY_CLI_BINARY</c> (CI
/// publishes it with Native AOT and runs these tests against it), or else this build's Ferry.Cli.dll under
/// <c>dotnet</c>.
/// </summary>
public static class CliBinary
{
    public const string Variable = "FERRY_CLI_BINARY";

    public static string? Native => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } path ? path : null;

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var start = Native is { } native ? new ProcessStartInfo(native) : new ProcessStartInfo("dotnet") { ArgumentList = { typeof(FerryCommand).Assembly.Location } };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        return start;
    }

    /// <summary>
    /// Reads a started <c>ferry</c>'s stdout up to its <c>listening</c> event line and returns that line, or null when
    /// stdout ended first.
    /// </summary>
    public static async Task<string?> ReadUntilListeningAsync(Process process, CancellationToken cancellationToken)
    {
        string? line;
        do
            line = await process.StandardOutput.ReadLineAsync(cancellationToken);
        while (line is not null && !line.Contains("\"listening\"", StringComparison.Ordinal));
        return line;
    }

    /// <summary>Runs to completion (bounded) and returns the exit code and both outputs.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string[] args, IDictionary<string, string>? environment = null)
    {
        var start = StartInfo(args);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
