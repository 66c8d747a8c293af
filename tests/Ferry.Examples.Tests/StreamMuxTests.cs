using System.Security.Cryptography;
using System.Text;
using Ferry.Examples.Tests.Support;
using Ferry.Framing;
using Ferry.Tests.Support;
using StreamMux;

namespace Ferry.Examples.Tests;

public sealed class StreamMuxTests : IAsyncLifetime
{
    private MuxServer _server = null!;

    public async Task InitializeAsync() => _server = await MuxServer.StartAsync(new MuxServerOptions { Bind = $"127.0.0.1:{FreePorts.One()}" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<FramedTestClient> ConnectAsync() => FramedTestClient.ConnectAsync(_server.LocalEndPoint, new FramedTestClientOptions { Framing = new MuxFraming(), Timeout = TimeSpan.FromSeconds(15) });

    private static Task ControlAsync(FramedTestClient client, string json) => client.SendMessageAsync(Encoding.UTF8.GetBytes(json), new FrameFields(StreamId: 0));

    private static async Task<(uint Stream, string Text)> NextAsync(FramedTestClient client)
    {
        var (payload, fields) = await client.ReceiveMessageAsync();
        return (fields.StreamId, Encoding.UTF8.GetString(payload));
    }

    [Fact]
    public async Task Interleaved_streams_stay_apart_and_close_with_their_totals()
    {
        using var client = await ConnectAsync();
        await ControlAsync(client, """{"type":"stream_create","streamId":1,"streamType":"echo","metadata":{"name":"a"}}""");
        await ControlAsync(client, """{"type":"stream_create","streamId":2,"streamType":"sha256"}""");
        await ControlAsync(client, """{"type":"stream_create","streamId":3,"streamType":"echo"}""");

        var hashed = new List<byte>();
        for (var i = 0; i < 20; i++)
        {
            await client.SendMessageAsync(Encoding.UTF8.GetBytes($"one-{i}"), new FrameFields(StreamId: 1));
            var chunk = Encoding.UTF8.GetBytes($"two-{i}-" + new string('x', i * 100));
            hashed.AddRange(chunk);
            await client.SendMessageAsync(chunk, new FrameFields(StreamId: 2));
            await client.SendMessageAsync(Encoding.UTF8.GetBytes($"three-{i}"), new FrameFields(StreamId: 3));
        }
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((1u, $"one-{i}"), await NextAsync(client));
            Assert.Equal((3u, $"three-{i}"), await NextAsync(client));
        }

        await ControlAsync(client, """{"type":"stream_close","streamId":2}""");
        Assert.Equal((2u, Convert.ToHexStringLower(SHA256.HashData(hashed.ToArray()))), await NextAsync(client));
        var closed = await NextAsync(client);
        Assert.Equal(0u, closed.Stream);
        var close = Json.Parse(closed.Text);
        Assert.Equal("stream_close", close.Str("type"));
        Assert.Equal(2, close.GetProperty("streamId").GetInt32());
        Assert.Equal(hashed.Count, close.GetProperty("bytes").GetInt32());

        // Stream 2 is closed now; 1 and 3 still work.
        await client.SendMessageAsync(Encoding.UTF8.GetBytes("late"), new FrameFields(StreamId: 2));
        Assert.Equal("stream 2 is not open (open one with stream_create on stream 0)", Json.Parse((await NextAsync(client)).Text).Str("message"));
        await client.SendMessageAsync(Encoding.UTF8.GetBytes("still"), new FrameFields(StreamId: 3));
        Assert.Equal((3u, "still"), await NextAsync(client));
    }

    [Theory]
    [InlineData("""{"type":"stream_create","streamId":0,"streamType":"echo"}""", "stream 0 is the control stream")]
    [InlineData("""{"type":"stream_create","streamId":5,"streamType":"video"}""", "streamType 'video' is not known")]
    [InlineData("""{"type":"stream_create","streamId":-1,"streamType":"echo"}""", "'streamId' must be a number")]
    [InlineData("""{"type":"stream_close","streamId":9}""", "stream 9 is not open")]
    [InlineData("""{"type":"stream_pause","streamId":1}""", "unknown control message 'stream_pause'")]
    [InlineData("""[1,2]""", "a control message is a JSON object")]
    [InlineData("""{"type":""", "invalid JSON")]
    public async Task A_bad_control_message_is_answered_with_an_error_and_harms_nothing(string control, string error)
    {
        using var client = await ConnectAsync();
        await ControlAsync(client, """{"type":"stream_create","streamId":1,"streamType":"echo"}""");

        await ControlAsync(client, control);
        var reply = await NextAsync(client);
        Assert.Equal(0u, reply.Stream);
        Assert.Equal("error", Json.Parse(reply.Text).Str("type"));
        Assert.Contains(error, Json.Parse(reply.Text).Str("message"));

        await client.SendMessageAsync(Encoding.UTF8.GetBytes("alive"), new FrameFields(StreamId: 1));
        Assert.Equal((1u, "alive"), await NextAsync(client));
    }

    [Fact]
    public async Task Each_connection_has_its_own_stream_ids_and_a_duplicate_is_refused()
    {
        using var first = await ConnectAsync();
        using var second = await ConnectAsync();
        await ControlAsync(first, """{"type":"stream_create","streamId":7,"streamType":"echo"}""");
        await ControlAsync(second, """{"type":"stream_create","streamId":7,"streamType":"echo"}""");
        await ControlAsync(second, """{"type":"stream_create","streamId":7,"streamType":"echo"}""");
        Assert.Contains("stream 7 is already open", Json.Parse((await NextAsync(second)).Text).Str("message"));

        await first.SendMessageAsync(Encoding.UTF8.GetBytes("from first"), new FrameFields(StreamId: 7));
        await second.SendMessageAsync(Encoding.UTF8.GetBytes("from second"), new FrameFields(StreamId: 7));
        Assert.Equal((7u, "from first"), await NextAsync(first));
        Assert.Equal((7u, "from second"), await NextAsync(second));
    }
}
