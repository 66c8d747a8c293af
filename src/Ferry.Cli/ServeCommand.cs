using System.Runtime.InteropServices;
using Ferry.Bus;
using Ferry.Framing;
using Ferry.Stages;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary><c>ferry serve</c>: one server stage on the in-process bus, its life printed as JSON lines.</summary>
internal static class ServeCommand
{
    public const string Usage = """
        usage: ferry serve [options]
          --bind ADDR               host:port, :port or [ipv6]:port (default 127.0.0.1:9000; port 0 = any free port)
          --max-connections N       simultaneous clients, 0 = unlimited (default 128)
          --backlog N               pending connections the kernel queues before accept (default 512)
          --idle-timeout DURATION   disconnect clients silent this long, e.g. 30s, 500ms; 0 = never (default 0)
          --group-size N            packets per published group (default 1)
          --group-linger DURATION   publish a partial group this long after its first packet (default 1ms)
          --framing SPEC            how bytes become messages (default raw): raw, lines, delimiter, length, u16be,
                                    u32be, fixed, header, text-length, mux, zmtp, with key=value settings, e.g.
                                    delimiter,delimiter=\x03,position=prefix  length,bytes=3,endian=little
                                    fixed,size=16  u16be,max_frame_bytes=4096,on_error=skip
                                    zmtp,socket=pull (a ZeroMQ PULL socket for PUSH peers) (docs/framing.md)
          --egress-buffer BYTES     egress bytes a client may have waiting (default 1048576)
          --echo                    send every packet back to the connection it came from
          --quiet                   print events and stats, not packets
          --stats-connections       add the per-connection table to every stats line
          --egress-overflow POLICY  a slow client's full buffer: drop (default), disconnect or wait
          --queue-when-disconnected N  keep up to N broadcasts while nobody is connected, for the first client
          --log-level LEVEL         stderr logging: trace, debug, information, warning, error, none (default warning)
        """ + "\n" + TlsFlags.ServeUsage + "\n" + """
        output: one JSON object per line on stdout: listening, connected, packet, disconnected, error, stats, closed
        input: one JSON command per line on stdin, e.g. {"type":"send","conn":"…","text":"hi"}; also send_any
          (one connection, round-robin), broadcast (text|base64, except), group_send (group), join/leave (conn, group), close (conn, reason, code), connections
        """;

    public static async Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        TcpServerStageOptions options;
        bool echo = false, quiet = false, statsConnections = false;
        var logLevel = LogLevel.Warning;
        var tls = new TlsFlags(server: true);
        try
        {
            options = new TcpServerStageOptions();
            var reader = new CliArguments(args);
            while (reader.TryNext(out var flag))
            {
                switch (flag)
                {
                    case "--bind": options = options with { Bind = reader.Value(flag) }; break;
                    case "--backlog": options = options with { Backlog = reader.Int(flag, 1, 65535) }; break;
                    case "--max-connections": options = options with { MaxConnections = reader.Int(flag, 0, int.MaxValue) }; break;
                    case "--idle-timeout": options = options with { IdleTimeout = reader.Duration(flag) }; break;
                    case "--group-size": options = options with { GroupSize = reader.Int(flag, 1, 65536) }; break;
                    case "--group-linger": options = options with { GroupLinger = reader.Duration(flag) }; break;
                    case "--egress-buffer": options = options with { EgressBufferBytes = reader.Int(flag, 1, int.MaxValue) }; break;
                    case "--framing":
                        var spec = reader.Value(flag);
                        try { options = options with { Framing = FramingSpec.Parse(spec) }; }
                        catch (FramingException ex) { throw new CliException("--framing: " + ex.Message); }
                        break;
                    case "--echo": echo = true; break;
                    case "--quiet": quiet = true; break;
                    case "--stats-connections": statsConnections = true; break;
                    case "--egress-overflow":
                        var policy = reader.Value(flag);
                        options = options with
                        {
                            EgressOverflow = policy switch
                            {
                                "drop" => EgressOverflowPolicy.Drop,
                                "disconnect" => EgressOverflowPolicy.Disconnect,
                                "wait" => EgressOverflowPolicy.Wait,
                                _ => throw new CliException($"--egress-overflow '{policy}' is not allowed; use drop, disconnect or wait"),
                            },
                        };
                        break;
                    case "--queue-when-disconnected": options = options with { QueueWhenDisconnected = reader.Int(flag, 0, 1_000_000) }; break;
                    case "--log-level": logLevel = reader.LogLevel(flag); break;
                    case "-h" or "--help":
                        stdout.WriteLine(Usage);
                        return 0;
                    default:
                        if (tls.TryRead(flag, reader))
                            break;
                        throw new CliException($"unknown option '{flag}' (see ferry serve --help)");
                }
            }
            options = options with { Tls = tls.Build(), Transport = tls.Transport };
            options.Validate();
        }
        catch (CliException ex)
        {
            stderr.WriteLine("ferry serve: " + ex.Message);
            return 2;
        }
        catch (StageOptionsException ex)
        {
            stderr.WriteLine("ferry serve: " + ex.Message);
            return 2;
        }

        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(logLevel).AddProvider(new StderrLoggerProvider(stderr)));
        using var output = new JsonLineWriter(stdout);
        var bus = new InProcessBus();
        await using var stage = new TcpServerStage(options, bus, loggerFactory);
        StageJsonPrinter.Attach(stage, output, printPackets: !quiet, statsConnections);
        IDisposable? echoing = echo ? EchoRoute.Attach(bus, options.Name) : null;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

        stage.Start();
        // Commands are read on their own task; end of input leaves the server running.
        _ = Task.Run(() => new StdinCommands(stage, output).RunAsync(stdin, stop.Token), CancellationToken.None);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await stage.StopAsync().ConfigureAwait(false);
        echoing?.Dispose();
        output.Flush();
        return 0;
    }
}
