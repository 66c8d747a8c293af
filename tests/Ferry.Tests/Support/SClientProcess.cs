using System.Diagnostics;
using System.Text;

namespace Ferry.Tests.Support;

/// <summary>
/// A running <c>openssl s_client</c> (or any <c>openssl</c> command) with its stdin open for commands and lines, and its
/// stdout and stderr gathered as they come (read continuously, so a chatty process never blocks on a full pipe).
/// </summary>
public sealed class SClientProcess : IDisposable
{
    private readonly StringBuilder _output = new();

    private SClientProcess(Process process) => Process = process;

    public Process Process { get; }

    /// <summary>What it printed so far, stdout and stderr interleaved.</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public static SClientProcess Start(string openssl, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(openssl, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var started = new SClientProcess(Process.Start(start)!);
        started.Process.OutputDataReceived += (_, e) => started.Append(e.Data);
        started.Process.ErrorDataReceived += (_, e) => started.Append(e.Data);
        started.Process.BeginOutputReadLine();
        started.Process.BeginErrorReadLine();
        return started;
    }

    private void Append(string? line)
    {
        lock (_output)
            _output.AppendLine(line);
    }

    public void Dispose() => Process.Dispose();
}
