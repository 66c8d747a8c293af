using System.Net;
using System.Text.Json;
using ChatRooms;
using Ferry.Examples.Tests.Support;
using Ferry.Framing;
using Ferry.Tests.Support;

namespace Ferry.Examples.Tests;

public sealed class ChatRoomsTests : IAsyncLifetime
{
    private ChatServer _server = null!;

    public async Task InitializeAsync()
        => _server = await ChatServer.StartAsync(new ChatServerOptions { Bind = $"127.0.0.1:{FreePorts.One()}" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Ping_gets_pong_and_unknown_or_malformed_messages_get_an_error()
    {
        using var alice = await ChatClient.ConnectAsync(_server.LocalEndPoint);

        await alice.SendAsync("""{"type":"ping"}""");
        Assert.Equal("pong", (await alice.ReceiveAsync()).Str("type"));

        await alice.SendAsync("""{"type":"dance"}""");
        var unknown = await alice.ExpectAsync("error");
        Assert.Equal("Unknown message type: dance", unknown.Str("message"));

        await alice.SendAsync("{not json");
        Assert.StartsWith("invalid JSON", (await alice.ExpectAsync("error")).Str("message"));

        await alice.SendAsync("""{"kind":"ping"}""");
        Assert.Contains("'type'", (await alice.ExpectAsync("error")).Str("message"));

        // Bad messages harm nothing: the connection still works.
        await alice.SendAsync("""{"type":"ping"}""");
        await alice.ExpectAsync("pong");
    }

    [Fact]
    public async Task Broadcast_reaches_everyone_but_the_sender()
    {
        using var alice = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var bob = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var carol = await ChatClient.ConnectAsync(_server.LocalEndPoint);

        await alice.SendAsync("""{"type":"broadcast","data":{"text":"hello all","n":[1,2]}}""");

        foreach (var other in new[] { bob, carol })
        {
            var message = await other.ExpectAsync("broadcast");
            Assert.Equal(alice.Id, message.Str("from"));
            Assert.Equal("hello all", message.GetProperty("data").Str("text"));
            Assert.Equal(2, message.GetProperty("data").GetProperty("n").GetArrayLength());
        }
        await alice.AssertNothingPendingAsync();
    }

    [Fact]
    public async Task Private_goes_to_its_target_only_and_a_bad_target_is_an_error()
    {
        using var alice = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var bob = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var carol = await ChatClient.ConnectAsync(_server.LocalEndPoint);

        await alice.SendAsync($$"""{"type":"private","target":"{{bob.Id}}","data":"psst"}""");
        var whisper = await bob.ExpectAsync("private");
        Assert.Equal(alice.Id, whisper.Str("from"));
        Assert.Equal("psst", whisper.Str("data"));
        await carol.AssertNothingPendingAsync();
        await alice.AssertNothingPendingAsync();

        await alice.SendAsync("""{"type":"private","target":"bob","data":"x"}""");
        Assert.Contains("'target' must be a client id", (await alice.ExpectAsync("error")).Str("message"));

        var gone = bob.Id;
        bob.Dispose();
        await Poll.UntilAsync(() => _server.Stage.ConnectionCount == 2, "bob's connection is closed");
        await alice.SendAsync($$"""{"type":"private","target":"{{gone}}","data":"x"}""");
        Assert.Equal($"private: client {gone} is not connected", (await alice.ExpectAsync("error")).Str("message"));
    }

    [Fact]
    public async Task Rooms_announce_joins_and_leaves_to_their_members_only()
    {
        using var alice = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var bob = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var carol = await ChatClient.ConnectAsync(_server.LocalEndPoint);
        using var dave = await ChatClient.ConnectAsync(_server.LocalEndPoint);

        await alice.SendAsync("""{"type":"join_room","room":"ops"}""");
        Assert.Equal("ops", (await alice.ExpectAsync("room_joined")).Str("room"));
        await carol.SendAsync("""{"type":"join_room","room":"dev"}""");
        await carol.ExpectAsync("room_joined");

        await bob.SendAsync("""{"type":"join_room","room":"ops"}""");
        await bob.ExpectAsync("room_joined");
        var joined = await alice.ExpectAsync("user_joined");
        Assert.Equal(bob.Id, joined.Str("connectionId"));
        Assert.Equal("ops", joined.Str("room"));
        await bob.AssertNothingPendingAsync();   // the joiner is not told about itself

        await dave.SendAsync("""{"type":"join_room","room":"ops"}""");
        await dave.ExpectAsync("room_joined");
        Assert.Equal(dave.Id, (await alice.ExpectAsync("user_joined")).Str("connectionId"));
        Assert.Equal(dave.Id, (await bob.ExpectAsync("user_joined")).Str("connectionId"));

        // Leaving by message, then by disconnecting: the rest of the room hears user_left.
        await dave.SendAsync("""{"type":"leave_room","room":"ops"}""");
        Assert.Equal(dave.Id, (await alice.ExpectAsync("user_left")).Str("connectionId"));
        Assert.Equal(dave.Id, (await bob.ExpectAsync("user_left")).Str("connectionId"));
        await dave.AssertNothingPendingAsync();

        var bobId = bob.Id;
        bob.Dispose();
        var left = await alice.ExpectAsync("user_left");
        Assert.Equal(bobId, left.Str("connectionId"));
        Assert.Equal("ops", left.Str("room"));

        await carol.AssertNothingPendingAsync();   // another room hears nothing
        await dave.SendAsync("""{"type":"leave_room","room":"ops"}""");
        Assert.Contains("not in room 'ops'", (await dave.ExpectAsync("error")).Str("message"));
        await dave.SendAsync("""{"type":"join_room"}""");
        Assert.Contains("'room'", (await dave.ExpectAsync("error")).Str("message"));
    }

    private sealed class ChatClient(FramedTestClient client, string id) : IDisposable
    {
        public string Id { get; } = id;

        public static async Task<ChatClient> ConnectAsync(IPEndPoint server)
        {
            var client = await FramedTestClient.ConnectAsync(server, new FramedTestClientOptions { Framing = FramingSpec.Parse("text-length"), Timeout = TimeSpan.FromSeconds(15) });
            var welcome = Json.Parse((await client.ReceiveMessageAsync()).Text);
            Assert.Equal("welcome", welcome.Str("type"));
            return new ChatClient(client, welcome.Str("clientId"));
        }

        public Task SendAsync(string json) => client.SendMessageAsync(json);

        public async Task<JsonElement> ReceiveAsync() => Json.Parse((await client.ReceiveMessageAsync()).Text);

        public async Task<JsonElement> ExpectAsync(string type)
        {
            var message = await ReceiveAsync();
            Assert.True(message.Str("type") == type, $"expected a '{type}' message, got {message}");
            return message;
        }

        /// <summary>A ping's pong is the next message: nothing else was queued for this client before it.</summary>
        public async Task AssertNothingPendingAsync()
        {
            await SendAsync("""{"type":"ping"}""");
            await ExpectAsync("pong");
        }

        public void Dispose() => client.Dispose();
    }
}
