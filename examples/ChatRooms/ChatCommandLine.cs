using Ferry.Examples;

namespace ChatRooms;

/// <summary>chat-rooms's command line: <c>chat-rooms [--bind HOST:PORT]</c>.</summary>
public static class ChatCommandLine
{
    /// <summary>What <c>--help</c> prints.</summary>
    public const string Usage = """
        usage: chat-rooms [--bind HOST:PORT]
          --bind HOST:PORT   where to listen: host:port, :port (every interface) or [ipv6]:port; port 0 picks a free one
                             (default 127.0.0.1:9100)
        """;

    /// <summary>The options <paramref name="args"/> give; a wrong one throws an <see cref="ArgumentException"/> whose message says what is wrong and what is allowed.</summary>
    public static ChatServerOptions Parse(string[] args)
    {
        var line = new CommandLine(args, "--bind");
        line.Arguments();   // none: a stray word is an error, not ignored
        var options = new ChatServerOptions();
        return options with { Bind = line.ListenAddress("--bind", options.Bind) };
    }
}
