using System.Net;
using System.Text.RegularExpressions;
using BridgePipeline;
using CardGateway;
using ChatRooms;
using FileTransfer;
using Ferry.Tests.Support;
using NatsWorker;
using SensorStage;
using StreamMux;

namespace Ferry.Examples.Tests;

/// <summary>
/// The example programs' command lines, read by their Parse methods (no process): every command the documents show is
/// accepted as written, what it says is what the program gets, and a wrong one is refused with a message that names
/// the option, the value and what is allowed.
/// </summary>
public sealed partial class CommandLineTests
{
    /// <summary>Each example's directory and its parser.</summary>
    private static readonly Dictionary<string, Func<string[], object>> Parsers = new()
    {
        ["BridgePipeline"] = PipelineCommandLine.Parse,
        ["CardGateway"] = GatewayCommandLine.Parse,
        ["ChatRooms"] = ChatCommandLine.Parse,
        ["FileTransfer"] = TransferCommandLine.Parse,
        ["NatsWorker"] = WorkerCommandLine.Parse,
        ["SensorStage"] = SensorCommandLine.Parse,
        ["StreamMux"] = MuxCommandLine.Parse,
    };

    // "dotnet run --project examples/NAME -- ARGS", then an optional "&" (run in the background) and "# comment".
    [GeneratedRegex(@"^dotnet run --project examples/(?<example>\w+) -- (?<args>[^&#]*?)\s*&?\s*(#.*)?$", RegexOptions.Multiline)]
    private static partial Regex RunCommand();

    /// <summary>Every <c>dotnet run --project examples/…</c> command in the examples' READMEs, README.md and docs/.</summary>
    private static List<(string Document, string Example, string[] Args)> DocumentedCommands()
    {
        var documents = Parsers.Keys.Select(e => $"examples/{e}/README.md").Append("README.md")
            .Concat(Directory.GetFiles(RepoFiles.Path("docs"), "*.md").Select(f => Path.GetRelativePath(RepoFiles.Root, f)));
        return [.. from document in documents
                   from Match m in RunCommand().Matches(File.ReadAllText(RepoFiles.Path(document)))
                   select (document, m.Groups["example"].Value, m.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
    }

    [Fact]
    public void Every_command_the_documents_show_is_accepted_as_written()
    {
        var commands = DocumentedCommands();
        // Each example's README shows how to run it; a README whose command line the pattern no longer finds fails here.
        Assert.All(Parsers.Keys, e => Assert.Contains(commands, c => c.Document == $"examples/{e}/README.md" && c.Example == e));
        Assert.All(commands, c =>
        {
            Assert.True(Parsers.ContainsKey(c.Example), $"{c.Document} runs examples/{c.Example}, which is not an example");
            var exception = Record.Exception(() => Parsers[c.Example](c.Args));
            Assert.True(exception is null, $"{c.Document}: {c.Example} {string.Join(' ', c.Args)}: {exception?.Message}");
        });
    }

    [Fact]
    public void The_readme_commands_give_the_settings_they_show()
    {
        var hardware = PipelineCommandLine.Parse(["hardware", "--port", "8000", "--frames", "10000", "--max-bytes", "65536"]);
        Assert.Equal(new PipelineCommand("hardware", new PipelineOptions { Port = 8000, Frames = 10000, MaxBytes = 65536 }), hardware);
        Assert.Equal(new PipelineCommand("analysis", new PipelineOptions { Port = 8000, Frames = 10000 }),
            PipelineCommandLine.Parse(["analysis", "--port", "8000", "--frames", "10000"]));
        Assert.Equal("127.0.0.1:9300", GatewayCommandLine.Parse(["--bind", "127.0.0.1:9300"]).Bind);
        Assert.Equal("127.0.0.1:9100", ChatCommandLine.Parse(["--bind", "127.0.0.1:9100"]).Bind);
        Assert.Equal("127.0.0.1:9400", MuxCommandLine.Parse(["--bind", "127.0.0.1:9400"]).Bind);

        var serve = TransferCommandLine.Parse(["serve", "--bind", "127.0.0.1:9200", "--dir", "/tmp/uploads"]);
        Assert.Equal(("127.0.0.1:9200", "/tmp/uploads"), (serve.Serve!.Bind, serve.Serve.Directory));
        Assert.Null(serve.Send);
        var send = TransferCommandLine.Parse(["send", "./some.iso", "--server", "127.0.0.1:9200"]).Send!;
        Assert.Equal(("./some.iso", "127.0.0.1:9200", 64 * 1024), (send.Path, send.Server, send.ChunkSize));

        Assert.Equal("127.0.0.1:9500", SensorCommandLine.Parse(["serve", "--bind", "127.0.0.1:9500"]).Serve!.Bind);
        Assert.Equal(new SimulateOptions(IPEndPoint.Parse("127.0.0.1:9500"), 3, 200),
            SensorCommandLine.Parse(["simulate", "--stage", "127.0.0.1:9500", "--sensors", "3", "--rate", "200"]).Simulate);

        Assert.Equal(new WorkerSettings("nats://127.0.0.1:4222", "tcp_server", "ferry", "forbidden", "jetstream"),
            WorkerCommandLine.Parse(["--nats", "nats://127.0.0.1:4222", "--mode", "jetstream"]));
    }

    [Fact]
    public void No_options_give_the_documented_defaults()
    {
        Assert.Equal(new GatewayOptions(), GatewayCommandLine.Parse([]));
        Assert.Equal(new ChatServerOptions(), ChatCommandLine.Parse([]));
        Assert.Equal(new MuxServerOptions(), MuxCommandLine.Parse([]));
        Assert.Equal(new PipelineCommand("analysis", new PipelineOptions()), PipelineCommandLine.Parse(["analysis"]));
        Assert.Equal(new FileServerOptions(), TransferCommandLine.Parse(["serve"]).Serve);
        Assert.Equal(new SendOptions { Path = "f", Server = "127.0.0.1:9200" }, TransferCommandLine.Parse(["send", "f"]).Send);
        Assert.Equal(new SensorServerOptions().Bind, SensorCommandLine.Parse(["serve"]).Serve!.Bind);
        Assert.Equal(new SimulateOptions(IPEndPoint.Parse("127.0.0.1:9500"), 3, 200), SensorCommandLine.Parse(["simulate"]).Simulate);
        Assert.Equal(new WorkerSettings("nats://127.0.0.1:4222", "tcp_server", "ferry", "forbidden", "core"), WorkerCommandLine.Parse([]));
    }

    [Fact]
    public void Values_at_the_ends_of_their_ranges_are_accepted()
    {
        Assert.Equal(65534, PipelineCommandLine.Parse(["hardware", "--port", "65534"]).Options.Port);
        Assert.Equal(0, PipelineCommandLine.Parse(["analysis", "--frames", "0"]).Options.Frames);    // runs until stopped
        Assert.Equal(1, PipelineCommandLine.Parse(["hardware", "--frames", "1"]).Options.Frames);
        Assert.Equal(4, PipelineCommandLine.Parse(["hardware", "--max-bytes", "4"]).Options.MaxBytes);
        Assert.Equal(-7, PipelineCommandLine.Parse(["hardware", "--seed", "-7"]).Options.Seed);     // a value may start with '-'
        Assert.Equal("::1", PipelineCommandLine.Parse(["hardware", "--address", "::1"]).Options.Address);
        Assert.Equal(SendOptions.MaxChunkSize, TransferCommandLine.Parse(["send", "f", "--chunk", "262144"]).Send!.ChunkSize);
        Assert.Equal(1, TransferCommandLine.Parse(["send", "f", "--chunk", "1"]).Send!.ChunkSize);
        Assert.Equal(65535, SensorCommandLine.Parse(["simulate", "--sensors", "65535"]).Simulate!.Sensors);
        Assert.Equal(0.5, SensorCommandLine.Parse(["simulate", "--rate", "0.5"]).Simulate!.Rate);
        Assert.Equal(":0", GatewayCommandLine.Parse(["--bind", ":0"]).Bind);
        Assert.Equal("[::1]:9400", MuxCommandLine.Parse(["--bind", "[::1]:9400"]).Bind);
        Assert.Equal("a-b_c", WorkerCommandLine.Parse(["--stage", "a-b_c"]).Stage);
    }

    public static TheoryData<string, string[], string> Refused => new()
    {
        // What is wrong, where, and what is allowed.
        { "BridgePipeline", ["hardware", "--frames", "0"], "--frames '0' is not allowed; use a whole number from 1 to 2147483647" },
        { "BridgePipeline", ["analysis", "--frames", "-1"], "--frames '-1' is not allowed; use a whole number from 0 to 2147483647" },
        { "BridgePipeline", ["hardware", "--max-bytes", "67108865"], "--max-bytes '67108865' is not allowed; use a whole number from 4 to 67108864" },
        { "BridgePipeline", ["hardware", "--port", "0"], "--port '0' is not allowed; use a whole number from 1 to 65534" },
        { "BridgePipeline", ["hardware", "--seed", "1.5"], "--seed '1.5' is not allowed; use a whole number" },
        { "BridgePipeline", ["hardware", "--address", "a b"], "--address 'a b' is not an IP address or a host name" },
        { "BridgePipeline", ["hardware", "analysis"], "unexpected argument 'analysis'" },
        { "BridgePipeline", ["--port", "8000"], "the end to run (hardware or analysis) is missing" },
        { "BridgePipeline", ["Hardware"], "unknown end 'Hardware'; use hardware or analysis" },
        { "CardGateway", ["--bind", "127.0.0.1"], "--bind: '127.0.0.1' is not a valid address (no port); use host:port, :port or [ipv6]:port" },
        { "CardGateway", ["--bind", "--bind"], "--bind needs a value" },
        { "ChatRooms", ["--bind", "127.0.0.1:9100", "--verbose"], "unknown option '--verbose'; the options are --bind" },
        { "StreamMux", ["-b", "127.0.0.1:9400"], "unknown option '-b'; the options are --bind" },
        { "FileTransfer", ["send", "f", "--chunk", "262145"], "--chunk '262145' is not allowed; use a whole number from 1 to 262144" },
        { "FileTransfer", ["send", "f", "--server", "127.0.0.1:0"], "--server: '127.0.0.1:0' is not a remote address" },
        { "FileTransfer", ["send", "f", "g"], "unexpected argument 'g'" },
        { "FileTransfer", ["send", "--chunk", "1024"], "FILE is missing" },
        { "FileTransfer", ["serve", "--dir", ""], "--dir needs a value" },
        { "FileTransfer", ["receive"], "unknown command 'receive'; use serve or send" },
        { "SensorStage", ["simulate", "--rate", "1001"], "--rate '1001' is not allowed; use a number above 0 and at most 1000" },
        { "SensorStage", ["simulate", "--rate", "NaN"], "--rate 'NaN' is not allowed" },
        { "SensorStage", ["simulate", "--stage", "127.0.0.1"], "--stage '127.0.0.1' is not allowed; use an IP address and a port from 1 to 65535" },
        { "SensorStage", ["simulate", "--sensors", "3", "--sensors", "4"], "--sensors is given twice ('3' and '4'); give it once" },
        { "SensorStage", [], "the command is missing: serve or simulate" },
        { "NatsWorker", ["--nats", "http://127.0.0.1:4222"], "--nats: 'http://127.0.0.1:4222' is not allowed; use nats://host:port" },
        { "NatsWorker", ["--subject-prefix", "a..b"], "--subject-prefix: 'a..b' is not allowed" },
        { "NatsWorker", ["--stage", "a.b"], "--stage: stage name 'a.b' cannot be a NATS subject token" },
        { "NatsWorker", ["--mode", "JetStream"], "--mode 'JetStream' is not allowed; use core or jetstream" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void A_wrong_command_line_is_refused_naming_the_option_and_what_is_allowed(string example, string[] args, string expected)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => Parsers[example](args));
        Assert.StartsWith(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
