using System.Security.Cryptography;
using FileTransfer;
using Ferry.Examples.Tests.Support;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Examples.Tests;

public sealed class FileTransferTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("ferry-files-").FullName;
    private string Uploads => Path.Combine(_root, "uploads");
    private FileTransferServer _server = null!;

    public async Task InitializeAsync()
        => _server = await FileTransferServer.StartAsync(new FileServerOptions { Bind = $"127.0.0.1:{FreePorts.One()}", Directory = Uploads, ProgressEvery = 10 });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private string MakeFile(string name, int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        var path = Path.Combine(_root, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private SendOptions Options(string path) => new()
    {
        Server = _server.LocalEndPoint.ToString(), Path = path, ChunkSize = 16 * 1024, Window = 4, ReconnectWait = TimeSpan.FromMilliseconds(50),
    };

    [Fact]
    public async Task A_file_arrives_whole_with_acknowledgements_and_progress()
    {
        var path = MakeFile("report.bin", 300_000, seed: 1);
        var acknowledged = new List<long>();
        var result = await FileSender.SendAsync(Options(path), new SyncProgress(acknowledged.Add)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(Path.Combine(Uploads, "report.bin")));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), result.Sha256);
        Assert.Equal(1, result.Connections);
        Assert.Empty(result.ResumedAt);
        Assert.Equal(20, acknowledged.Count);   // the start (0) and 19 chunks of 16 KiB
        Assert.Equal(300_000, acknowledged[^1]);
        Assert.True(acknowledged.SequenceEqual(acknowledged.Order()), "acknowledgements only grow");
        Assert.Equal(1, result.ProgressMessages);   // after chunk 10 of 19 (every 10)
        Assert.False(File.Exists(Path.Combine(Uploads, result.TransferId + ".part")));
    }

    [Theory]
    [InlineData(64 * 1024)]    // the command line's default (README: file-transfer send FILE)
    [InlineData(256 * 1024)]   // the largest chunk SendOptions takes
    public async Task Chunks_of_the_default_and_the_largest_size_arrive_with_the_default_window(int chunkSize)
    {
        // A chunk goes as base64 in JSON, a third larger than the chunk: the sender's framing must take that.
        var path = MakeFile("large-chunks.bin", 3_000_000, seed: 5);
        var result = await FileSender.SendAsync(new SendOptions { Server = _server.LocalEndPoint.ToString(), Path = path, ChunkSize = chunkSize })
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(Path.Combine(Uploads, "large-chunks.bin")));
        Assert.Equal(1, result.Connections);
    }

    [Fact]
    public async Task A_connection_dropped_mid_file_resumes_where_the_server_stopped()
    {
        const int Size = 1_000_000;
        var path = MakeFile("firmware.img", Size, seed: 2);
        var dropped = 0;
        _server.ChunkStored += (connection, _, received) =>
        {
            // The kill switch, once, when about 40 % has arrived.
            if (received >= Size * 4 / 10 && Interlocked.Exchange(ref dropped, 1) == 0)
                _server.Stage.Close(connection, "the test drops the connection mid-file");
        };

        var result = await FileSender.SendAsync(Options(path)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, dropped);
        Assert.Equal(2, result.Connections);
        var resumedAt = Assert.Single(result.ResumedAt);
        Assert.InRange(resumedAt, Size * 4 / 10, Size - 1);   // not from the start
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(Path.Combine(Uploads, "firmware.img")));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), result.Sha256);
    }

    [Fact]
    public async Task A_checksum_that_does_not_match_is_refused_and_the_partial_file_deleted()
    {
        using var client = await FramedTestClient.ConnectAsync(_server.LocalEndPoint, new FramedTestClientOptions { Framing = FramingSpec.Parse("text-length"), Timeout = TimeSpan.FromSeconds(15) });
        await client.SendMessageAsync($$"""{"type":"file_start","transferId":"t1","filename":"a.txt","fileSize":5,"sha256":"{{new string('0', 64)}}"}""");
        Assert.Equal(0, Json.Parse((await client.ReceiveMessageAsync()).Text).GetProperty("receivedBytes").GetInt64());
        await client.SendMessageAsync("""{"type":"file_chunk","transferId":"t1","chunkIndex":0,"offset":0,"data":"aGVsbG8="}""");
        Assert.Equal("file_chunk_ack", Json.Parse((await client.ReceiveMessageAsync()).Text).Str("type"));
        await client.SendMessageAsync("""{"type":"file_end","transferId":"t1"}""");

        var error = Json.Parse((await client.ReceiveMessageAsync()).Text);
        Assert.Equal("error", error.Str("type"));
        Assert.StartsWith("checksum mismatch", error.Str("message"));
        Assert.Empty(Directory.GetFiles(Uploads));
    }

    [Theory]
    [InlineData("""{"type":"file_start","transferId":"t2","filename":"../etc/passwd","fileSize":1,"sha256":"SHA"}""", "'filename' must be a plain file name")]
    [InlineData("""{"type":"file_start","transferId":"t2","filename":"ok.txt","fileSize":-1,"sha256":"SHA"}""", "'fileSize' must be 0 to")]
    [InlineData("""{"type":"file_start","transferId":"t2","filename":"ok.txt","fileSize":1,"sha256":"abc"}""", "'sha256' must be")]
    [InlineData("""{"type":"file_start","transferId":"a/b","filename":"ok.txt","fileSize":1,"sha256":"SHA"}""", "'transferId' must be")]
    [InlineData("""{"type":"file_chunk","transferId":"nope","chunkIndex":0,"offset":0,"data":"aGk="}""", "Transfer not found")]
    [InlineData("""{"type":"file_move","transferId":"t2"}""", "unknown message type 'file_move'")]
    [InlineData("""{"type":""", "invalid JSON")]
    public async Task Bad_requests_get_a_clear_error_and_the_connection_stays_usable(string request, string error)
    {
        using var client = await FramedTestClient.ConnectAsync(_server.LocalEndPoint, new FramedTestClientOptions { Framing = FramingSpec.Parse("text-length"), Timeout = TimeSpan.FromSeconds(15) });
        await client.SendMessageAsync(request.Replace("SHA", new string('a', 64)));
        var reply = Json.Parse((await client.ReceiveMessageAsync()).Text);
        Assert.Equal("error", reply.Str("type"));
        Assert.Contains(error, reply.Str("message"));

        await client.SendMessageAsync($$"""{"type":"file_start","transferId":"t3","filename":"empty.txt","fileSize":0,"sha256":"{{Convert.ToHexStringLower(SHA256.HashData([]))}}"}""");
        Assert.Equal("file_start_ack", Json.Parse((await client.ReceiveMessageAsync()).Text).Str("type"));
        await client.SendMessageAsync("""{"type":"file_end","transferId":"t3"}""");
        Assert.Equal("file_complete", Json.Parse((await client.ReceiveMessageAsync()).Text).Str("type"));
        Assert.Equal(0, new FileInfo(Path.Combine(Uploads, "empty.txt")).Length);
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
