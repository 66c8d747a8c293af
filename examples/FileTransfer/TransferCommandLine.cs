using Ferry.Examples;

namespace FileTransfer;

/// <summary>What to run: a server (<see cref="Serve"/>) or a sender (<see cref="Send"/>); exactly one is set.</summary>
public sealed record TransferCommand(FileServerOptions? Serve, SendOptions? Send);

/// <summary>file-transfer's command line.</summary>
public static class TransferCommandLine
{
    /// <summary>Where <c>send</c> sends when <c>--server</c> is not given: <c>serve</c>'s default address.</summary>
    public const string DefaultServer = "127.0.0.1:9200";

    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: file-transfer serve [--bind HOST:PORT] [--dir DIR]
               file-transfer send FILE [--server HOST:PORT] [--chunk BYTES]
          serve               receives files; a dropped transfer resumes where it stopped
            --bind HOST:PORT  where to listen: host:port, :port or [ipv6]:port (default 127.0.0.1:9200)
            --dir DIR         where files go, created if missing (default uploads)
          send FILE           sends FILE, re-dialling and resuming when the connection drops
            --server HOST:PORT  the server (default 127.0.0.1:9200)
            --chunk BYTES     bytes per chunk, 1 to 262144 (default 65536)
        """;

    /// <summary>The command <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static TransferCommand Parse(string[] args)
    {
        switch (args)
        {
            case ["serve", .. var rest]:
            {
                var line = new CommandLine(rest, "--bind", "--dir");
                line.Arguments();   // none: a stray word is an error, not ignored
                var defaults = new FileServerOptions();
                return new TransferCommand(defaults with
                {
                    Bind = line.ListenAddress("--bind", defaults.Bind),
                    Directory = line.Text("--dir", defaults.Directory),
                }, null);
            }
            case ["send", .. var rest]:
            {
                var line = new CommandLine(rest, "--server", "--chunk");
                var path = line.Arguments("FILE")[0];
                return new TransferCommand(null, new SendOptions
                {
                    Path = path,
                    Server = line.DialAddress("--server", DefaultServer),
                    ChunkSize = line.Number("--chunk", 64 * 1024, 1, SendOptions.MaxChunkSize),
                });
            }
            case []:
                throw new UsageException("the command is missing: serve or send");
            default:
                throw new UsageException($"unknown command '{args[0]}'; use serve or send");
        }
    }
}
