using Ferry.Examples;

namespace CardGateway;

/// <summary>card-gateway's command line: <c>card-gateway [--bind HOST:PORT]</c>.</summary>
public static class GatewayCommandLine
{
    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: card-gateway [--bind HOST:PORT]
          --bind HOST:PORT   where to listen: host:port, :port (every interface) or [ipv6]:port; port 0 picks a free one
                             (default 127.0.0.1:9300)
        """;

    /// <summary>The options <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static GatewayOptions Parse(string[] args)
    {
        var line = new CommandLine(args, "--bind");
        line.Arguments();   // none: a stray word is an error, not ignored
        var options = new GatewayOptions();
        return options with { Bind = line.ListenAddress("--bind", options.Bind) };
    }
}
