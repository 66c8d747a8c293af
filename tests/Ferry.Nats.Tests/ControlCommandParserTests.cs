using System.Text;
using Ferry.Connections;
using Ferry.Nats.Internal;

namespace Ferry.Nats.Tests;

/// <summary>
/// The control subject's parser on its own (no broker): every malformed command is an error that says what is wrong,
/// where, and what is allowed; nothing throws; values quoted back stay short.
/// </summary>
public sealed class ControlCommandParserTests
{
    private static ControlCommand? Parse(string json, out string? error) => ControlCommandParser.Parse(Encoding.UTF8.GetBytes(json), out error);

    [Fact]
    public void The_three_commands_are_read_with_their_members()
    {
        var close = Parse("""{"command":"conn.close","payload":{"conn_id":"3fa2c1d9-42","reason":"protocol_violation","code":"isomsg_pack_fail","extra":1}}""", out var error);
        Assert.Null(error);
        Assert.Equal(new ControlCommand(ControlVerb.Close, new ConnectionId(0x3fa2c1d9, 42), null, "protocol_violation", "isomsg_pack_fail"), close);
        Assert.Equal("conn.close", close!.Name);
        Assert.Equal(new ControlCommand(ControlVerb.Close, new ConnectionId(0x3fa2c1d9, 42), null, null, null),
            Parse("""{"command":"conn.close","payload":{"conn_id":"3fa2c1d9-42","reason":null}}""", out _));
        Assert.Equal(new ControlCommand(ControlVerb.Join, new ConnectionId(1, 7), "ops", null, null),
            Parse("""{"payload":{"group":"ops","conn_id":"00000001-7"},"command":"group.join"}""", out _));
        Assert.Equal(new ControlCommand(ControlVerb.Leave, new ConnectionId(1, 7), "ops", null, null),
            Parse("""{"command":"group.leave","payload":{"conn_id":"00000001-7","group":"ops"}}""", out _));
    }

    [Theory]
    [InlineData("", "control message is not JSON (")]
    [InlineData("kill it", "control message is not JSON (")]
    [InlineData("{\"command\":", "control message is not JSON (")]
    [InlineData("[1,2]", "control message is a JSON array, not an object; expected {\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"…\"}}")]
    [InlineData("null", "control message is a JSON null, not an object; expected")]
    [InlineData("{}", "control message has no \"command\"; use conn.close, group.join or group.leave")]
    [InlineData("{\"Command\":\"conn.close\"}", "control message has no \"command\"; use conn.close, group.join or group.leave")]
    [InlineData("{\"command\":7}", "control message: \"command\" is a JSON number, not a string; use conn.close, group.join or group.leave")]
    [InlineData("{\"command\":\"conn.reboot\",\"payload\":{}}", "control command 'conn.reboot' is not allowed; use conn.close, group.join or group.leave")]
    [InlineData("{\"command\":\"conn.close\",\"command\":\"group.join\"}", "control message: \"command\" is given twice; give each member once")]
    [InlineData("{\"command\":\"conn.close\"}", "conn.close: \"payload\" is missing; expected {\"conn_id\":\"…\"} with optional \"reason\" and \"code\"")]
    [InlineData("{\"command\":\"group.join\",\"payload\":\"x\"}", "group.join: \"payload\" is a JSON string, not an object; expected {\"conn_id\":\"…\",\"group\":\"…\"}")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{}}", "conn.close: payload.conn_id '' is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{\"conn_id\":42}}", "conn.close: payload.conn_id is a JSON number; it must be a string")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"3fa2c1d9-0\"}}", "conn.close: payload.conn_id '3fa2c1d9-0' is not a connection id")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\",\"conn_id\":\"3fa2c1d9-2\"}}", "conn.close: payload.conn_id is given twice; give each member once")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\",\"reason\":{}}}", "conn.close: payload.reason is a JSON object; it must be a string")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\",\"code\":true}}", "conn.close: payload.code is a JSON boolean; it must be a string")]
    [InlineData("{\"command\":\"group.join\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\"}}", "group.join: payload.group is missing or blank; name the group")]
    [InlineData("{\"command\":\"group.leave\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\",\"group\":\" \\t\"}}", "group.leave: payload.group is missing or blank; name the group")]
    [InlineData("{\"command\":\"group.leave\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\",\"group\":[]}}", "group.leave: payload.group is a JSON array; it must be a string")]
    public void A_malformed_command_is_an_error_that_says_what_and_what_is_allowed(string json, string expected)
    {
        Assert.Null(Parse(json, out var error));
        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_errors_say_where()
    {
        Parse("{\"command\":\"conn.close\",\n \"payload\": {,}}", out var error);
        Assert.Contains("LineNumber: 1", error, StringComparison.Ordinal);
        Parse("kill it", out error);
        Assert.Equal("control message is not JSON ('k' is an invalid start of a value. LineNumber: 0 | BytePositionInLine: 0.); expected {\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"…\"}}", error);
    }

    [Theory]
    [InlineData("group")]
    [InlineData("reason")]
    [InlineData("code")]
    public void Text_members_longer_than_256_characters_are_refused(string member)
    {
        var command = member == "group" ? "group.join" : "conn.close";
        Assert.NotNull(Parse($$$"""{"command":"{{{command}}}","payload":{"conn_id":"3fa2c1d9-1","{{{member}}}":"{{{new string('x', 256)}}}"}}""", out _));
        Assert.Null(Parse($$$"""{"command":"{{{command}}}","payload":{"conn_id":"3fa2c1d9-1","{{{member}}}":"{{{new string('x', 257)}}}"}}""", out var error));
        Assert.Equal($"{command}: payload.{member} is 257 characters long; at most 256 are allowed", error);
    }

    [Fact]
    public void A_huge_value_is_quoted_cut_short()
    {
        Parse($$$"""{"command":"conn.close","payload":{"conn_id":"{{{new string('<', 200_000)}}}"}}""", out var error);
        Assert.Equal("conn.close: payload.conn_id is 200000 characters long; at most 256 are allowed", error);
        Parse($$$"""{"command":"conn.close","payload":{"conn_id":"{{{new string('<', 100)}}}"}}""", out error);
        Assert.Equal($"conn.close: payload.conn_id '{new string('<', 64)}…' (100 characters) is not a connection id (expected iiiiiiii-n, e.g. 3fa2c1d9-42)", error);
        Parse($$"""{"command":"{{new string('c', 100)}}"}""", out error);
        Assert.StartsWith($"control command '{new string('c', 64)}…' (100 characters) is not allowed", error, StringComparison.Ordinal);
        // Not between the halves of a surrogate pair.
        Parse($$"""{"command":"{{new string('c', 63)}}😀😀"}""", out error);
        Assert.StartsWith($"control command '{new string('c', 63)}…' (67 characters)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_are_an_error_not_an_exception()
    {
        byte[][] inputs =
        [
            [.. "{\"command\":\""u8, 0xFF, 0xFE, .. "\"}"u8],
            [.. "{\"command\":\"conn.close\",\"payload\":{\"conn_id\":\"3fa2c1d9-1\",\"reason\":\""u8, 0xC3, .. "\"}}"u8],
            [0xEF, 0xBB, 0xBF, .. "{}"u8],
        ];
        foreach (var input in inputs)
        {
            Assert.Null(ControlCommandParser.Parse(input, out var error));
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void Half_a_surrogate_pair_is_an_error_not_an_exception()
    {
        Assert.Null(Parse("{\"command\":\"group.join\",\"payload\":{\"conn_id\":\"00000001-1\",\"group\":\"\\ud800\"}}", out var error));
        Assert.Equal("group.join: payload.group is not valid text (bytes that are not UTF-8, or an escape of half a surrogate pair); it must be a string", error);
        Assert.Null(Parse("{\"command\":\"\\udc00\"}", out error));
        Assert.StartsWith("control message: \"command\" is not valid text", error, StringComparison.Ordinal);
    }

    /// <summary>Found by fuzzing (target control): comparing a member name with an escape of half a surrogate pair threw
    /// InvalidOperationException out of the parser.</summary>
    [Theory]
    [InlineData("{\"co\\ud800mmand\":\"conn.close\"}", "control message has a member name that is not valid text")]
    [InlineData("{\"command\":\"conn.close\",\"payload\":{\"conn_\\ud800id\":\"9a3c01f2-17\"}}", "conn.close: payload has a member name that is not valid text")]
    public void A_member_name_with_half_a_surrogate_pair_is_an_error_not_an_exception(string json, string expected)
    {
        Assert.Null(Parse(json, out var error));
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
        Assert.EndsWith("; member names must be text", error, StringComparison.Ordinal);
    }
}
