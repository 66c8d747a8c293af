using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace StreamMux;

/// <summary>A frame to send back: the stream it goes on and its payload.</summary>
/// <param name="Stream">The stream id (0 = control).</param>
/// <param name="Payload">The bytes.</param>
public readonly record struct MuxFrame(uint Stream, byte[] Payload);

/// <summary>
/// Seed 002's stream multiplexing for one connection, without any transport: control messages
/// (JSON) on stream 0 open and close logical streams, every other frame is data for an open stream.
/// Stream types: <c>echo</c> sends each data frame back on its stream; <c>sha256</c> hashes what it
/// receives and, when closed, sends the hex digest on its stream. Closing a stream is answered with a
/// <c>stream_close</c> carrying the bytes it received; mistakes are answered with an <c>error</c> on
/// stream 0 and harm no other stream.
/// </summary>
public sealed class MuxSession : IDisposable
{
    /// <summary>Streams one connection may have open at once.</summary>
    public const int MaxOpenStreams = 64;

    private readonly Dictionary<uint, OpenStream> _streams = [];

    private sealed class OpenStream(string type) : IDisposable
    {
        public string Type { get; } = type;
        public long Bytes { get; set; }
        public IncrementalHash? Hash { get; } = type == "sha256" ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        public void Dispose() => Hash?.Dispose();
    }

    /// <summary>Streams open now.</summary>
    public int OpenStreams => _streams.Count;

    /// <summary>Handles one frame; what it returns goes back to the peer, in order.</summary>
    public IReadOnlyList<MuxFrame> OnFrame(uint stream, ReadOnlySpan<byte> payload)
    {
        if (stream == 0)
            return OnControl(payload);
        if (!_streams.TryGetValue(stream, out var open))
            return [Error(stream, $"stream {stream} is not open (open one with stream_create on stream 0)")];
        open.Bytes += payload.Length;
        if (open.Hash is { } hash)
        {
            hash.AppendData(payload);
            return [];
        }
        return [new MuxFrame(stream, payload.ToArray())];
    }

    private IReadOnlyList<MuxFrame> OnControl(ReadOnlySpan<byte> json)
    {
        string type;
        uint stream;
        string? streamType;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
                return [Error(null, "a control message is a JSON object with a string 'type' (stream_create, stream_close)")];
            type = t.GetString()!;
            if (!root.TryGetProperty("streamId", out var id) || !id.TryGetUInt32(out stream))
                return [Error(null, $"{type}: 'streamId' must be a number from 1 to {uint.MaxValue}")];
            streamType = root.TryGetProperty("streamType", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString() : null;
        }
        catch (JsonException e)
        {
            return [Error(null, $"invalid JSON on the control stream: {e.Message}")];
        }

        switch (type)
        {
            case "stream_create" when stream == 0:
                return [Error(0, "stream 0 is the control stream; data streams are 1 and up")];
            case "stream_create" when _streams.ContainsKey(stream):
                return [Error(stream, $"stream {stream} is already open")];
            case "stream_create" when streamType is not ("echo" or "sha256"):
                return [Error(stream, $"streamType '{streamType}' is not known (allowed: echo, sha256)")];
            case "stream_create" when _streams.Count >= MaxOpenStreams:
                return [Error(stream, $"{MaxOpenStreams} streams are open already, the most a connection may have")];
            case "stream_create":
                _streams[stream] = new OpenStream(streamType!);
                return [];
            case "stream_close":
                if (!_streams.Remove(stream, out var open))
                    return [Error(stream, $"stream {stream} is not open")];
                using (open)
                {
                    var closed = Control(w => { w.WriteString("type", "stream_close"); w.WriteNumber("streamId", stream); w.WriteNumber("bytes", open.Bytes); });
                    return open.Hash is { } hash
                        ? [new MuxFrame(stream, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(hash.GetHashAndReset()))), closed]
                        : [closed];
                }
            default:
                return [Error(stream, $"unknown control message '{type}' (allowed: stream_create, stream_close)")];
        }
    }

    private static MuxFrame Error(uint? stream, string message) => Control(w =>
    {
        w.WriteString("type", "error");
        if (stream is { } id)
            w.WriteNumber("streamId", id);
        w.WriteString("message", message);
    });

    private static MuxFrame Control(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(96);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        return new MuxFrame(0, buffer.WrittenSpan.ToArray());
    }

    /// <summary>Releases every open stream (the connection is gone).</summary>
    public void Dispose()
    {
        foreach (var open in _streams.Values)
            open.Dispose();
        _streams.Clear();
    }
}
