using System.Runtime.InteropServices;
using System.Text;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary><c>ferry connect HOST:PORT</c>: one client stage; stdin lines go out as messages, what arrives is printed as JSON lines.</summary>
internal static class ConnectCommand
{
    public const string Usage = """
        usage: ferry connect HOST:PORT [options]
          --framing SPEC            how bytes become messages (default raw; see ferry serve --help)
          --reconnect-wait DURATION first wait before reconnecting, doubled per failure (default 1s)
          --reconnect-max-wait DURATION  cap of the wait (default 30s)
          --idle-timeout DURATION   reconnect when nothing arrives this long; 0 = never (default 0)
          --connect-timeout DURATION  one attempt's limit (default 10s)
          --quiet                   print events, not packets
          --log-level LEVEL         stderr logging (default warning)
        """ + "\n" + TlsFlags.ConnectUsage + "\n" + """
        Each stdin line is sent as one message (encoded with the framing). Output: JSON lines
        connecting, connected, packet, disconnected, error, stats, closed, as ferry serve prints them.
        """;

    public static async Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        TcpClientStageOptions options;
        var quiet = false;
        var logLevel = LogLevel.Warning;
        var tls = new TlsFlags(server: false);
        try
        {
            options = new TcpClientStageOptions();
            string? remote = null;
            var reader = new CliArguments(args);
            while (reader.TryNext(out var flag))
            {
                switch (flag)
                {
                    case "--framing":
                        var spec = reader.Value(flag);
                        try { options = options with { Framing = FramingSpec.Parse(spec) }; }
                        catch (FramingException ex) { throw new CliException("--framing: " + ex.Message); }
                        break;
                    case "--reconnect-wait": options = options with { ReconnectWait = reader.Duration(flag) }; break;
                    case "--reconnect-max-wait": options = options with { ReconnectMaxWait = reader.Duration(flag) }; break;
                    case "--idle-timeout": options = options with { IdleTimeout = reader.Duration(flag) }; break;
                    case "--connect-timeout": options = options with { ConnectTimeout = reader.Duration(flag) }; break;
                    case "--quiet": quiet = true; break;
                    case "--log-level": logLevel = reader.LogLevel(flag); break;
                    case "-h" or "--help":
                        stdout.WriteLine(Usage);
                        return 0;
                    default:
                        if (tls.TryRead(flag, reader))
                            break;
                        if (flag.StartsWith('-') || remote is not null)
                            throw new CliException($"unknown option '{flag}' (see ferry connect --help)");
                        remote = flag;
                        break;
                }
            }
            if (remote is null)
                throw new CliException("needs HOST:PORT (see ferry connect --help)");
            options = options with { Connect = remote, Tls = tls.Build(), Transport = tls.Transport };
            if (options.ReconnectMaxWait < options.ReconnectWait)
                options = options with { ReconnectMaxWait = options.ReconnectWait };
            options.Validate();
        }
        catch (Exception ex) when (ex is CliException or StageOptionsException)
        {
            stderr.WriteLine("ferry connect: " + ex.Message);
            return 2;
        }

        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(logLevel).AddProvider(new StderrLoggerProvider(stderr)));
        using var output = new JsonLineWriter(stdout);
        await using var stage = new TcpClientStage(options, new InProcessBus(), loggerFactory);
        StageJsonPrinter.Attach(stage, output, printPackets: !quiet);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        stage.Start();
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                string? line;
                try { line = await stdin.ReadLineAsync(stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                if (line is null)
                    return; // end of input: keep receiving until stopped
                try
                {
                    if (!await stage.SendAsync(Encoding.UTF8.GetBytes(line), default, stop.Token).ConfigureAwait(false))
                        output.Error("message dropped: not connected and the egress policy is drop, or the buffer is full");
                }
                catch (FramingException ex)
                {
                    output.Error("cannot frame that line: " + ex.Message);
                }
            }
        }, CancellationToken.None);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await stage.StopAsync().ConfigureAwait(false);
        output.Flush();
        return 0;
    }
}
