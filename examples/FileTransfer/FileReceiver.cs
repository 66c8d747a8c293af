using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FileTransfer;

/// <summary>What one client message led to: the replies to send back, and how far its transfer now is.</summary>
/// <param name="Replies">Messages for the client, in order.</param>
/// <param name="TransferId">The transfer it concerned, when known.</param>
/// <param name="ReceivedBytes">Bytes of that transfer stored so far (after a chunk), or -1.</param>
public sealed record ReceiverOutcome(IReadOnlyList<byte[]> Replies, string? TransferId = null, long ReceivedBytes = -1);

/// <summary>
/// The receiving side of seed 002's file transfer, without any transport: <c>file_start</c> (answered
/// with <c>file_start_ack</c> and the bytes already held, which is how a client resumes),
/// <c>file_chunk</c> (base64 data at an offset, answered with <c>file_chunk_ack</c>, and every
/// <c>progressEvery</c> chunks a <c>file_progress</c>), <c>file_end</c> (the SHA-256 of what was
/// stored is checked against the one declared at the start: <c>file_complete</c> or an
/// <c>error</c>). A transfer is named by its id, not by its connection, so a new connection picks it
/// up where the old one dropped; the partial file on disk (<c>&lt;id&gt;.part</c>) is the truth.
/// </summary>
public sealed partial class FileReceiver(string directory, long maxFileBytes, int progressEvery, TimeProvider time)
{
    private readonly Dictionary<string, Transfer> _transfers = [];

    private sealed class Transfer(string filename, long size, string sha256, string partPath, long startedAt)
    {
        public string Filename { get; } = filename;
        public long Size { get; } = size;
        public string Sha256 { get; } = sha256;
        public string PartPath { get; } = partPath;
        public long StartedAt { get; } = startedAt;
        public long Received { get; set; }
        public long Chunks { get; set; }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex TransferIdPattern();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Pattern();

    /// <summary>Transfers started and not yet completed.</summary>
    public int OpenTransfers => _transfers.Count;

    /// <summary>Handles one message.</summary>
    public ReceiverOutcome Handle(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Fail(null, "a message is a JSON object");
            var id = root.String("transferId");
            if (id is null || !TransferIdPattern().IsMatch(id))
                return Fail(null, $"'transferId' must be 1 to 64 of A-Z a-z 0-9 _ - (got {(id is null ? "nothing" : $"'{id}'")})");
            return root.String("type") switch
            {
                "file_start" => Start(id, root),
                "file_chunk" => Chunk(id, root),
                "file_end" => End(id),
                var other => Fail(id, $"unknown message type '{other}' (allowed: file_start, file_chunk, file_end)"),
            };
        }
        catch (JsonException e)
        {
            return Fail(null, $"invalid JSON: {e.Message}");
        }
        catch (IOException e)
        {
            return Fail(null, $"storage failed: {e.Message}");
        }
    }

    private ReceiverOutcome Start(string id, JsonElement root)
    {
        var filename = root.String("filename");
        if (filename is null || filename.Length > 255 || filename is "." or ".." || Path.GetFileName(filename) != filename
            || filename.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || filename.EndsWith(".part", StringComparison.Ordinal))
            return Fail(id, $"'filename' must be a plain file name (no directories, not ending in .part, at most 255 characters), got '{filename}'");
        if (root.Long("fileSize") is not { } size || size < 0 || size > maxFileBytes)
            return Fail(id, $"'fileSize' must be 0 to {maxFileBytes} bytes");
        if (root.String("sha256") is not { } sha || !Sha256Pattern().IsMatch(sha))
            return Fail(id, "'sha256' must be the file's SHA-256 as 64 hex digits");

        var part = Path.Combine(directory, id + ".part");
        if (_transfers.TryGetValue(id, out var known) && (known.Filename != filename || known.Size != size || !known.Sha256.Equals(sha, StringComparison.OrdinalIgnoreCase)))
            return Fail(id, $"transfer {id} is already under way for another file ('{known.Filename}', {known.Size} bytes)");
        if (known is null)
            _transfers[id] = known = new Transfer(filename, size, sha.ToLowerInvariant(), part, time.GetTimestamp());
        // Resume from what is on disk: a chunk that was written but whose acknowledgement was lost counts.
        known.Received = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (known.Received > size)
        {
            File.Delete(part);
            known.Received = 0;
        }
        var received = known.Received;
        return new([TransferJson.Message("file_start_ack", w =>
        {
            w.WriteString("transferId", id);
            w.WriteString("status", "ready");
            w.WriteNumber("receivedBytes", received);
        })], id, received);
    }

    private ReceiverOutcome Chunk(string id, JsonElement root)
    {
        if (!_transfers.TryGetValue(id, out var transfer))
            return Fail(id, "Transfer not found (send file_start first)");
        if (root.Long("offset") is not { } offset || root.Long("chunkIndex") is not { } index)
            return Fail(id, "file_chunk needs numeric 'offset' and 'chunkIndex'");
        if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.String || !data.TryGetBytesFromBase64(out var bytes))
            return Fail(id, "file_chunk needs 'data' in base64");
        if (offset + bytes.Length <= transfer.Received)
            return new([ChunkAck(id, index, transfer.Received)], id, transfer.Received);   // a repeat after a resume
        if (offset != transfer.Received)
            return Fail(id, $"chunk {index} starts at byte {offset}, expected {transfer.Received}");
        if (offset + bytes.Length > transfer.Size)
            return Fail(id, $"chunk {index} ends at byte {offset + bytes.Length}, beyond the declared size {transfer.Size}");

        using (var file = new FileStream(transfer.PartPath, FileMode.Append, FileAccess.Write))
            file.Write(bytes);
        transfer.Received += bytes.Length;
        transfer.Chunks++;
        var replies = new List<byte[]> { ChunkAck(id, index, transfer.Received) };
        if (transfer.Chunks % progressEvery == 0)
        {
            replies.Add(TransferJson.Message("file_progress", w =>
            {
                w.WriteString("transferId", id);
                w.WriteNumber("progress", transfer.Size == 0 ? 100 : Math.Round(100.0 * transfer.Received / transfer.Size, 1));
                w.WriteNumber("receivedBytes", transfer.Received);
                w.WriteNumber("totalBytes", transfer.Size);
            }));
        }
        return new(replies, id, transfer.Received);
    }

    private ReceiverOutcome End(string id)
    {
        if (!_transfers.TryGetValue(id, out var transfer))
            return Fail(id, "Transfer not found (send file_start first)");
        if (transfer.Received != transfer.Size)
            return Fail(id, $"file_end after {transfer.Received} of {transfer.Size} bytes");
        if (!File.Exists(transfer.PartPath))
            File.WriteAllBytes(transfer.PartPath, []);   // an empty file never got a chunk
        string actual;
        using (var file = File.OpenRead(transfer.PartPath))
            actual = Convert.ToHexStringLower(SHA256.HashData(file));
        _transfers.Remove(id);
        if (actual != transfer.Sha256)
        {
            File.Delete(transfer.PartPath);
            return Fail(id, $"checksum mismatch: the file's SHA-256 was declared {transfer.Sha256} but what arrived is {actual}; the partial file is deleted, send it again");
        }
        File.Move(transfer.PartPath, Path.Combine(directory, transfer.Filename), overwrite: true);
        var seconds = Math.Max(time.GetElapsedTime(transfer.StartedAt).TotalSeconds, 1e-6);
        return new([TransferJson.Message("file_complete", w =>
        {
            w.WriteString("transferId", id);
            w.WriteString("filename", transfer.Filename);
            w.WriteNumber("receivedBytes", transfer.Received);
            w.WriteString("sha256", actual);
            w.WriteNumber("duration", Math.Round(seconds * 1000));
            w.WriteNumber("avgSpeed", Math.Round(transfer.Received / seconds));
        })], id, transfer.Received);
    }

    private static byte[] ChunkAck(string id, long index, long received) => TransferJson.Message("file_chunk_ack", w =>
    {
        w.WriteString("transferId", id);
        w.WriteNumber("chunkIndex", index);
        w.WriteNumber("receivedBytes", received);
    });

    private static ReceiverOutcome Fail(string? id, string message) => new([TransferJson.Message("error", w =>
    {
        if (id is not null)
            w.WriteString("transferId", id);
        w.WriteString("message", message);
    })], id);
}
