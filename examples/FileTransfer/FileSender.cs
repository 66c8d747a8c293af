using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Ferry.Bus;
using Ferry.Connections;
using Ferry.Framing;
using Ferry.Stages;

namespace FileTransfer;

/// <summary>What to send where.</summary>
public sealed record SendOptions
{
    /// <summary>The server, <c>host:port</c>.</summary>
    public required string Server { get; init; }

    /// <summary>The file to send.</summary>
    public required string Path { get; init; }

    /// <summary>The largest <see cref="ChunkSize"/>: a chunk, base64 in JSON, must fit the 512 KiB frames of both ends.</summary>
    public const int MaxChunkSize = 256 * 1024;

    /// <summary>Bytes per chunk (1 B to <see cref="MaxChunkSize"/>).</summary>
    public int ChunkSize { get; init; } = 64 * 1024;

    /// <summary>Chunks sent ahead of their acknowledgement.</summary>
    public int Window { get; init; } = 8;

    /// <summary>First wait before re-dialling a dropped connection (doubles up to 2 s).</summary>
    public TimeSpan ReconnectWait { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Connections tried in all before giving up.</summary>
    public int MaxConnections { get; init; } = 10;
}

/// <summary>How a transfer went.</summary>
/// <param name="TransferId">Its id (derived from the file's name and content, so a rerun resumes too).</param>
/// <param name="Bytes">The file's size.</param>
/// <param name="Sha256">The SHA-256 both sides agreed on.</param>
/// <param name="Connections">Connections used: 1 when nothing dropped.</param>
/// <param name="ResumedAt">Where each connection after the first resumed, in bytes.</param>
/// <param name="ProgressMessages"><c>file_progress</c> messages received from the server.</param>
public sealed record SendResult(string TransferId, long Bytes, string Sha256, int Connections, IReadOnlyList<long> ResumedAt, int ProgressMessages);

/// <summary>The server refused the transfer; the message is the server's.</summary>
public sealed class TransferFailedException(string message) : Exception(message);

/// <summary>
/// The sending side: a <see cref="TcpClientStage"/> (which re-dials with back-off when the
/// connection drops) and the protocol on top. Every connection starts with <c>file_start</c>; the
/// server's <c>file_start_ack</c> says how many bytes it already has, and sending resumes there.
/// Chunks go out <see cref="SendOptions.Window"/> ahead of their acknowledgements.
/// </summary>
public static class FileSender
{
    private sealed record Inbound(ConnectionId Connection, JsonElement? Message);

    /// <summary>Sends a file; <paramref name="acknowledged"/> hears the bytes the server has stored.</summary>
    /// <exception cref="TransferFailedException">The server answered with an error.</exception>
    /// <exception cref="IOException">No connection could finish it within <see cref="SendOptions.MaxConnections"/> tries.</exception>
    public static async Task<SendResult> SendAsync(SendOptions options, IProgress<long>? acknowledged = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ChunkSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.ChunkSize, SendOptions.MaxChunkSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Window, 1);
        var filename = System.IO.Path.GetFileName(options.Path);
        using var file = File.OpenHandle(options.Path);
        var size = RandomAccess.GetLength(file);
        string sha256;
        await using (var stream = File.OpenRead(options.Path))
            sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
        var transferId = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(filename + "\n" + sha256)))[..32];

        // Replies and disconnects meet in one channel, each tagged with its connection, so that a
        // late reply of a dropped connection is told apart from the current one's.
        var inbox = Channel.CreateUnbounded<Inbound>(new UnboundedChannelOptions { SingleReader = true });
        await using var client = new TcpClientStage(new TcpClientStageOptions
        {
            Name = "file_sender",
            Connect = options.Server,
            // A chunk travels as base64 in JSON, a third larger than itself: a 256 KiB chunk is about 350 KiB,
            // so the sender takes what the server takes (at 64 KiB, the default 64 KiB chunk did not fit).
            Framing = FramingSpec.Parse("text-length,max_frame_bytes=524288"),
            // A window of large chunks can be more than the egress buffer holds: wait for room rather than drop a
            // chunk, which the server would then refuse every later chunk for (they come at the wrong offset).
            EgressOverflow = EgressOverflowPolicy.Wait,
            ReconnectWait = options.ReconnectWait,
            ReconnectMaxWait = TimeSpan.FromSeconds(2),
        }, new InProcessBus());
        using var replies = client.Bus.Topic<PacketGroup>(StageTopics.PacketGroup(client.Name)).Subscribe((group, _) =>
        {
            foreach (var packet in group)
            {
                using var document = JsonDocument.Parse(packet.Payload);
                inbox.Writer.TryWrite(new Inbound(packet.ConnectionId, document.RootElement.Clone()));
            }
            return ValueTask.CompletedTask;
        });
        client.Disconnected += (_, e) => inbox.Writer.TryWrite(new Inbound(e.ConnectionId, null));
        client.Start();

        var resumedAt = new List<long>();
        var progressMessages = 0;
        var closed = new HashSet<ConnectionId>();
        for (var connections = 1; connections <= options.MaxConnections; connections++)
        {
            await client.WaitConnectedAsync(cancellationToken);
            var connection = client.ConnectionId;
            if (connection.IsNone || closed.Contains(connection))
            {
                // Dropped again since the wait ended: wait for the next connection.
                connections--;
                await Task.Delay(10, cancellationToken);
                continue;
            }
            await SendJsonAsync(client, connection, "file_start", w =>
            {
                w.WriteString("transferId", transferId);
                w.WriteString("filename", filename);
                w.WriteNumber("fileSize", size);
                w.WriteNumber("chunkSize", options.ChunkSize);
                w.WriteString("sha256", sha256);
            }, cancellationToken);
            var ack = await NextAsync(connection);
            if (ack is null)
                continue;   // dropped before the server answered
            Expect(ack.Value, "file_start_ack");
            var acked = ack.Value.GetProperty("receivedBytes").GetInt64();
            if (connections > 1)
                resumedAt.Add(acked);
            acknowledged?.Report(acked);

            var next = acked;
            var buffer = new byte[options.ChunkSize];
            var dropped = false;
            while (acked < size && !dropped)
            {
                while (next < size && next - acked < (long)options.Window * options.ChunkSize)
                {
                    var length = RandomAccess.Read(file, buffer, next);
                    var offset = next;
                    await SendJsonAsync(client, connection, "file_chunk", w =>
                    {
                        w.WriteString("transferId", transferId);
                        w.WriteNumber("chunkIndex", offset / options.ChunkSize);
                        w.WriteNumber("offset", offset);
                        w.WriteBase64String("data", buffer.AsSpan(0, length));
                    }, cancellationToken);
                    next += length;
                }
                if (await NextAsync(connection) is not { } reply)
                {
                    dropped = true;
                    break;
                }
                if (reply.String("type") == "file_progress")
                {
                    progressMessages++;
                    continue;
                }
                Expect(reply, "file_chunk_ack");
                acked = reply.GetProperty("receivedBytes").GetInt64();
                acknowledged?.Report(acked);
            }
            if (dropped)
                continue;

            await SendJsonAsync(client, connection, "file_end", w => w.WriteString("transferId", transferId), cancellationToken);
            if (await NextAsync(connection) is not { } complete)
                continue;
            Expect(complete, "file_complete");
            if (complete.String("sha256") != sha256)
                throw new TransferFailedException($"the server stored SHA-256 {complete.String("sha256")}, the file's is {sha256}");
            return new SendResult(transferId, size, sha256, connections, resumedAt, progressMessages);
        }
        throw new IOException($"sending {options.Path} did not finish over {options.MaxConnections} connections to {options.Server}");

        // The next message of this connection, or null once it has dropped; earlier connections' leftovers are skipped.
        async Task<JsonElement?> NextAsync(ConnectionId connection)
        {
            while (!closed.Contains(connection))
            {
                var inbound = await inbox.Reader.ReadAsync(cancellationToken);
                if (inbound.Message is null)
                    closed.Add(inbound.Connection);
                else if (inbound.Connection == connection)
                    return inbound.Message;
            }
            return null;
        }
    }

    private static void Expect(JsonElement message, string type)
    {
        var actual = message.String("type");
        if (actual == "error")
            throw new TransferFailedException(message.String("message") ?? message.ToString());
        if (actual != type)
            throw new TransferFailedException($"expected {type} from the server, got {message}");
    }

    // Bound to its connection: a chunk of a dropped connection's window must not reach the next one ahead of its file_start,
    // where the server would answer it (or refuse it, at an offset the resume has moved past) before the file_start_ack.
    // False (the connection just dropped) needs nothing: the disconnect is in the inbox and the next connection resumes.
    private static async ValueTask SendJsonAsync(TcpClientStage client, ConnectionId connection, string type, Action<Utf8JsonWriter> body,
        CancellationToken cancellationToken)
        => await client.SendToConnectionAsync(connection, TransferJson.Message(type, body), cancellationToken: cancellationToken);
}
