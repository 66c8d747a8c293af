using System.Globalization;
using Ferry.Bridge;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// <c>ferry bridge server|client ADDR PORT [--echo]</c>: one end of a Rogue-compatible frame bridge.
/// Events go to stdout as JSON lines (<c>{"type":"ready"}</c>, <c>{"type":"frame",...}</c>), logs to
/// stderr; <c>--echo</c> sends every received frame back unchanged, metadata included.
/// </summary>
internal static class BridgeCommand
{
    private const string Usage = "usage: ferry bridge server|client ADDR PORT [--echo]";

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (!TryParse(args, out bool isServer, out string address, out int port, out bool echo, out string? problem))
        {
            stderr.WriteLine($"ferry bridge: {problem} ({Usage})");
            return 2;
        }

        using var loggerFactory = new TextWriterLoggerFactory(stderr);
        var options = new FrameBridgeOptions { LoggerFactory = loggerFactory };
        IFrameBridge bridge;
        try
        {
            bridge = isServer ? new FrameBridgeServer(address, port, options) : new FrameBridgeClient(address, port, options);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or System.Net.Sockets.SocketException)
        {
            stderr.WriteLine($"ferry bridge: {e.Message}");
            return 1;
        }

        await using (bridge.ConfigureAwait(false))
        {
            var output = new JsonLines(stdout);
            Task announcing = AnnounceReadyAsync(bridge, output, ct);
            try
            {
                await foreach (Frame frame in bridge.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    // A frame can beat the announcer's continuation; keep "ready" first when it is true.
                    if (bridge.IsReady)
                        output.AnnounceReady();
                    output.Write(string.Create(CultureInfo.InvariantCulture,
                        $"{{\"type\":\"frame\",\"flags\":{frame.Flags},\"channel\":{frame.Channel},\"error\":{frame.Error},\"len\":{frame.Payload.Length}}}"));
                    if (echo)
                        await bridge.SendAsync(frame, ct).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }

            await bridge.StopAsync().ConfigureAwait(false);
            await announcing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return 0;
    }

    private static async Task AnnounceReadyAsync(IFrameBridge bridge, JsonLines output, CancellationToken ct)
    {
        await bridge.WaitReadyAsync(ct).ConfigureAwait(false);
        output.AnnounceReady();
    }

    private static bool TryParse(string[] args, out bool isServer, out string address, out int port, out bool echo, out string? problem)
    {
        isServer = false;
        address = string.Empty;
        port = 0;
        echo = false;
        problem = null;
        var positional = new List<string>(3);
        foreach (string arg in args)
        {
            if (arg == "--echo")
                echo = true;
            else if (arg.StartsWith("--", StringComparison.Ordinal))
                problem = $"unknown option '{arg}'";
            else
                positional.Add(arg);
        }

        if (problem is not null)
            return false;
        if (positional.Count != 3)
        {
            problem = $"expected 3 arguments, got {positional.Count}";
            return false;
        }

        if (positional[0] is not ("server" or "client"))
        {
            problem = $"role must be 'server' or 'client', got '{positional[0]}'";
            return false;
        }

        isServer = positional[0] == "server";
        address = positional[1];
        if (!int.TryParse(positional[2], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65534)
        {
            problem = $"PORT must be 1..65534 (the bridge uses PORT and PORT+1), got '{positional[2]}'";
            return false;
        }

        return true;
    }

    /// <summary>Serialises event lines from the ready announcer and the frame loop.</summary>
    private sealed class JsonLines(TextWriter writer)
    {
        private readonly Lock _lock = new();
        private bool _announcedReady;

        public void AnnounceReady()
        {
            lock (_lock)
            {
                if (_announcedReady)
                    return;
                _announcedReady = true;
                Write("{\"type\":\"ready\"}");
            }
        }

        public void Write(string line)
        {
            lock (_lock)
            {
                writer.WriteLine(line);
                writer.Flush();
            }
        }
    }

    /// <summary>Plain "level category: message" lines on the given writer (stderr), Information and up.</summary>
    private sealed class TextWriterLoggerFactory(TextWriter writer) : ILoggerFactory
    {
        private readonly Lock _lock = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private void Write(string line)
        {
            lock (_lock)
            {
                writer.WriteLine(line);
                writer.Flush();
            }
        }

        private sealed class Logger(TextWriterLoggerFactory owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                    owner.Write($"{logLevel.ToString().ToLowerInvariant()} {category}: {formatter(state, exception)}");
            }
        }
    }
}
