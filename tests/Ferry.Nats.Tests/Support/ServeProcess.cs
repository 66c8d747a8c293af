using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using Ferry.Cli;

namespace Ferry.Nats.Tests.Support;

/// <summary>A <c>ferry serve</c> (or <c>ferry run</c>) child process (its own connection-id instance), killed on dispose.</summary>
public sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServeProcess(Process process, IPEndPoint local) => (_process, Local) = (process, local);

    public IPEndPoint Local { get; }

    public static Task<ServeProcess> StartAsync(params string[] args) => StartCommandAsync("serve", args);

    /// <summary><c>ferry COMMAND ARGS…</c> (<c>serve</c>, or <c>run FILE</c>), returned once its first stage listens.</summary>
    public static async Task<ServeProcess> StartCommandAsync(string command, params string[] args)
    {
        var dll = typeof(FerryCommand).Assembly.Location;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add(command);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        var stderr = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line && stderr.Count < 50)
                stderr.Enqueue(line);
        };
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null)
            {
                // stdout can close a moment before the process is reaped: wait for its exit code, and say what it printed.
                await process.WaitForExitAsync(timeout.Token);
                throw new EndOfStreamException($"ferry {command} {string.Join(' ', args)} ended before listening (exit {process.ExitCode}): {string.Join(" | ", stderr)}");
            }
            var json = JsonDocument.Parse(line).RootElement;
            if (json.GetProperty("type").GetString() == "listening")
            {
                var served = new ServeProcess(process, IPEndPoint.Parse(json.GetProperty("local").GetString()!));
                _ = Task.Run(async () =>
                {
                    while (await process.StandardOutput.ReadLineAsync() is not null)
                    {
                    }
                });
                return served;
            }
        }
    }

    /// <summary>
    /// SIGSTOP: the process runs nothing (its NATS connection stays open but unanswered) until <see cref="Resume"/>
    /// (SIGCONT): a gateway that notices something later than another.
    /// </summary>
    public void Pause() => Signal(SigStop);

    public void Resume() => Signal(SigCont);

    private void Signal(int signal)
    {
        if (_process.HasExited)
            throw new InvalidOperationException($"ferry process {_process.Id} has exited");
        if (kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
    }

    // Linux's numbers (x86-64 and arm64).
    private const int SigCont = 18, SigStop = 19;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
