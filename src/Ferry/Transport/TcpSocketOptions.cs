namespace Ferry.Transport;

/// <summary>Per-socket TCP options shared by the server and client stages.</summary>
public sealed record TcpSocketOptions
{
    /// <summary>TCP_NODELAY: send small writes at once instead of waiting to coalesce them (default on).</summary>
    public bool NoDelay { get; init; } = true;

    /// <summary>SO_KEEPALIVE: let the kernel probe idle peers so dead ones are found (default on).</summary>
    public bool KeepAlive { get; init; } = true;

    /// <summary>Idle time before the first keep-alive probe (TCP_KEEPIDLE, default 60 s).</summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>SO_RCVBUF in bytes; 0 leaves the kernel default (and its auto-tuning).</summary>
    public int ReceiveBufferSize { get; init; }

    /// <summary>SO_SNDBUF in bytes; 0 leaves the kernel default (and its auto-tuning).</summary>
    public int SendBufferSize { get; init; }

    internal void Validate(List<string> problems)
    {
        if (KeepAlive && (KeepAliveIdle < TimeSpan.FromSeconds(1) || KeepAliveIdle > TimeSpan.FromSeconds(32767)))
            problems.Add($"option 'socket.keep_alive_idle': {KeepAliveIdle} is not allowed; must be from 1 s to 32767 s");
        if (ReceiveBufferSize < 0)
            problems.Add($"option 'socket.receive_buffer_size': {ReceiveBufferSize} is not allowed; must be 0 (kernel default) or a positive number of bytes");
        if (SendBufferSize < 0)
            problems.Add($"option 'socket.send_buffer_size': {SendBufferSize} is not allowed; must be 0 (kernel default) or a positive number of bytes");
    }
}
