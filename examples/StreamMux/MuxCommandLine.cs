using Ferry.Examples;

namespace StreamMux;

/// <summary>stream-mux's command line: <c>stream-mux [--bind HOST:PORT]</c>.</summary>
public static class MuxCommandLine
{
    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: stream-mux [--bind HOST:PORT]
          --bind HOST:PORT   where to listen: host:port, :port (every interface) or [ipv6]:port; port 0 picks a free one
                             (default 127.0.0.1:9400)
        """;

    /// <summary>The options <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static MuxServerOptions Parse(string[] args)
    {
        var line = new CommandLine(args, "--bind");
        line.Arguments();   // none: a stray word is an error, not ignored
        var options = new MuxServerOptions();
        return options with { Bind = line.ListenAddress("--bind", options.Bind) };
    }
}
