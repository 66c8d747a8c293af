using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Ferry.Framing;
using Ferry.Nats.Tests.Support;
using NATS.Client.Core;

namespace Ferry.Nats.Tests;

/// <summary>
/// The control subject as a careless or hostile peer meets it: malformed commands, huge values, a storm. Each bad command
/// is answered with what is wrong, where and what is allowed, and the subject keeps working.
/// </summary>
public sealed class ControlSubjectTests
{
    /// <summary>
    /// The error quoted the value whole: JSON-escaped into the reply it made a message over the server's max_payload, the
    /// publish failed and the requester got no answer at all (and the error event was lost as well).
    /// </summary>
    [SkippableFact]
    public async Task A_control_command_with_a_huge_value_gets_a_short_error_reply()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "huge", FramingSpec.Parse("lines"));
        var within = new NatsSubOpts { Timeout = TimeSpan.FromSeconds(5) };
        // '<' is escaped as \u003C in a JSON reply: quoted whole, 200,000 of them made a reply over the server's 1 MiB.
        var value = new string('<', 200_000);
        var reply = await nats.RequestAsync<byte[], byte[]>("ferry.ctrl.huge",
            Encoding.UTF8.GetBytes($$$"""{"command":"conn.close","payload":{"conn_id":"{{{value}}}"}}"""), replyOpts: within);
        var answer = JsonDocument.Parse(reply.Data!).RootElement;
        Assert.False(answer.GetProperty("ok").GetBoolean());
        Assert.True(reply.Data!.Length < 1000, $"{reply.Data!.Length} bytes");
    }

    /// <summary>
    /// A reply's error reads as written: quotes are not escaped as \u0027 and \u0022 (what JSON itself requires still is).
    /// </summary>
    [SkippableFact]
    public async Task An_error_reply_writes_quotes_as_themselves()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "quotes", FramingSpec.Parse("lines"));
        var reply = await nats.RequestAsync<byte[], byte[]>("ferry.ctrl.quotes", Encoding.UTF8.GetBytes("""{"command":"nope"}"""),
            replyOpts: new NatsSubOpts { Timeout = TimeSpan.FromSeconds(5) });
        var text = Encoding.UTF8.GetString(reply.Data!);
        Assert.Contains("'nope'", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u0027", text, StringComparison.Ordinal);
        Assert.False(JsonDocument.Parse(reply.Data!).RootElement.GetProperty("ok").GetBoolean());
    }

    /// <summary>
    /// Malformed commands, each answered with what is wrong, where and what is allowed; the subject keeps working. (A
    /// payload that was JSON of the wrong shape was answered "not JSON", with the name of an internal type.)
    /// </summary>
    [SkippableFact]
    public async Task Malformed_commands_each_get_a_clear_error_reply_and_the_control_subject_keeps_working()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "mal", FramingSpec.Parse("lines"));
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);
        (string Json, string Error)[] cases =
        [
            ("{\"command\":\"conn.close\"", "control message is not JSON ("),
            ("{\"co\\ud800mmand\":\"conn.close\"}", "control message has a member name that is not valid text"),
            ("[\"conn.close\"]", "control message is a JSON array, not an object; expected {\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"…\"}}"),
            ("{\"command\":\"group.join\",\"payload\":\"ops\"}", "group.join: \"payload\" is a JSON string, not an object; expected {\"conn_id\":\"…\",\"group\":\"…\"}"),
            ($$$"""{"command":"conn.close","payload":{"conn_id":"{{{id}}}","reason":7}}""", "conn.close: payload.reason is a JSON number; it must be a string"),
            ($$$"""{"command":"group.join","payload":{"conn_id":"{{{id}}}","group":"{{{new string('g', 300)}}}"}}""", "group.join: payload.group is 300 characters long; at most 256 are allowed"),
        ];
        foreach (var (json, expected) in cases)
        {
            var answer = await RequestAsync(nats, "ferry.ctrl.mal", json);
            Assert.False(answer.GetProperty("ok").GetBoolean());
            Assert.StartsWith(expected, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        var joined = await RequestAsync(nats, "ferry.ctrl.mal", $$$"""{"command":"group.join","payload":{"conn_id":"{{{id}}}","group":"ops"}}""");
        Assert.True(joined.GetProperty("ok").GetBoolean());
        Assert.Equal([id], gateway.Stage.GetGroupMembers("ops"));
        Assert.Equal((1, cases.Length), (gateway.Nats.Counters.ControlApplied, gateway.Nats.Counters.ControlRejected));
    }

    /// <summary>
    /// A join the stage refuses (over max_groups_per_connection, or a name over max_group_name_length) is answered with the
    /// stage's reason and changes nothing; the control subject keeps working. (Before the stage had limits a join could not
    /// be refused; with them, the refusal was an exception that the gateway reported as its own failure.)
    /// </summary>
    [SkippableFact]
    public async Task A_join_the_stage_refuses_is_answered_with_the_stages_reason_and_the_subject_keeps_working()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "capped", FramingSpec.Parse("lines"),
            stageOptions: o => o with { MaxGroupsPerConnection = 1, MaxGroupNameLength = 8 });
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);
        string Join(string group) => $$$"""{"command":"group.join","payload":{"conn_id":"{{{id}}}","group":"{{{group}}}"}}""";

        Assert.True((await RequestAsync(nats, "ferry.ctrl.capped", Join("a"))).GetProperty("ok").GetBoolean());
        var over = await RequestAsync(nats, "ferry.ctrl.capped", Join("b"));
        Assert.False(over.GetProperty("ok").GetBoolean());
        Assert.Equal($"group.join: connection {id} cannot join group 'b': it is in 1 group, the most max_groups_per_connection (1) allows; "
            + "leave a group first, or raise max_groups_per_connection (0 = unlimited)", over.GetProperty("error").GetString());
        var longName = await RequestAsync(nats, "ferry.ctrl.capped", Join("123456789"));
        Assert.False(longName.GetProperty("ok").GetBoolean());
        Assert.StartsWith($"group.join: connection {id} cannot join group '123456789': the name is 9 characters long, and max_group_name_length allows at most 8;",
            longName.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", longName.GetProperty("error").GetString(), StringComparison.Ordinal);

        Assert.Equal(["a"], gateway.Stage.GetGroupsOf(id));
        var closed = await RequestAsync(nats, "ferry.ctrl.capped", $$$"""{"command":"conn.close","payload":{"conn_id":"{{{id}}}"}}""");
        Assert.True(closed.GetProperty("ok").GetBoolean());
        Assert.Equal((2, 2), (gateway.Nats.Counters.ControlApplied, gateway.Nats.Counters.ControlRejected));
    }

    /// <summary>
    /// A storm of bad commands costs the gateway nothing but counts: every one is rejected or, beyond the subscription's
    /// queue, dropped by the client and counted; a good command after it is carried out and answered.
    /// </summary>
    [SkippableFact]
    public async Task A_storm_of_bad_commands_is_counted_and_a_good_one_after_it_is_carried_out()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        await using var gateway = await Gateway.StartAsync(server, "storm", FramingSpec.Parse("lines"));
        using var client = await TestClient.ConnectAsync(gateway.Port);
        var id = await gateway.ConnectionOfAsync(client.LocalPort);
        const int Storm = 20_000;
        var bad = "{\"command\":\"conn.reboot\"}"u8.ToArray();
        for (var i = 0; i < Storm; i++)
            await nats.PublishAsync("ferry.ctrl.storm", bad);
        await Eventually.TrueAsync(() => gateway.Nats.Counters is var c && c.ControlRejected + c.ClientDropped == Storm, TimeSpan.FromSeconds(20),
            () => gateway.Nats.Counters.ToString());
        var closed = await RequestAsync(nats, "ferry.ctrl.storm", $$$"""{"command":"conn.close","payload":{"conn_id":"{{{id}}}"}}""");
        Assert.True(closed.GetProperty("ok").GetBoolean());
        await client.WaitClosedAsync();
        Assert.Equal(0, gateway.Nats.Counters.Disconnects);
    }

    private static async Task<JsonElement> RequestAsync(NatsConnection nats, string subject, string json)
    {
        var reply = await nats.RequestAsync<byte[], byte[]>(subject, Encoding.UTF8.GetBytes(json), replyOpts: new NatsSubOpts { Timeout = TimeSpan.FromSeconds(10) });
        return JsonDocument.Parse(reply.Data!).RootElement;
    }
}
