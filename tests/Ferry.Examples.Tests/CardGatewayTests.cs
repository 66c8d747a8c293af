using System.Collections.Concurrent;
using CardGateway;
using Ferry.Connections;
using Ferry.Examples.Tests.Support;
using Ferry.Framing;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Examples.Tests;

public sealed class CardGatewayTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<DisconnectedEvent> _closed = new();
    private Gateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _gateway = await Gateway.StartAsync(new GatewayOptions { Bind = $"127.0.0.1:{FreePorts.One()}", LimitMinorUnits = 50_000 });
        _gateway.Stage.Disconnected += (_, e) => _closed.Enqueue(e);
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private static IsoMessage Purchase(string stan, long amount) => new("0200", new Dictionary<int, string>
    {
        [2] = "4111111111111111", [3] = "000000", [4] = amount.ToString("D12"), [11] = stan, [41] = "TERM0001",
    });

    private Task<FramedTestClient> ConnectAsync() => FramedTestClient.ConnectAsync(_gateway.LocalEndPoint, new FramedTestClientOptions { Framing = FramingSpec.Parse("u16be"), Timeout = TimeSpan.FromSeconds(15) });

    private static async Task<IsoMessage> ExchangeAsync(FramedTestClient client, IsoMessage request)
    {
        await client.SendMessageAsync(IsoCodec.Encode(request));
        var (payload, _) = await client.ReceiveMessageAsync();
        Assert.True(IsoCodec.TryDecode(payload, IsoCodec.ResponseMtis, out var response, out var violation), $"not a response: {violation}");
        return response!;
    }

    [Fact]
    public async Task Requests_are_answered_by_their_response_mti_with_a_decision()
    {
        using var terminal = await ConnectAsync();

        var approved = await ExchangeAsync(terminal, Purchase("000001", 12_345));
        Assert.Equal("0210", approved.Mti);
        Assert.Equal("00", approved[39]);
        Assert.Equal("000001", approved[11]);
        Assert.Equal("000000012345", approved[4]);
        Assert.Null(approved[2]);   // the card number is not echoed

        var declined = await ExchangeAsync(terminal, Purchase("000002", 50_001));
        Assert.Equal("51", declined[39]);

        var echo = await ExchangeAsync(terminal, new IsoMessage("0800", new Dictionary<int, string> { [11] = "000003" }));
        Assert.Equal("0810", echo.Mti);
        Assert.Equal("00", echo[39]);

        var incomplete = await ExchangeAsync(terminal, new IsoMessage("0100", new Dictionary<int, string> { [11] = "000004" }));
        Assert.Equal("0110", incomplete.Mti);
        Assert.Equal("30", incomplete[39]);
    }

    [Theory]
    [InlineData("0A00", "invalid_mti")]   // not digits
    [InlineData("0210", "invalid_mti")]   // a response, not a request
    [InlineData("bitmap", "bad_bitmap")]
    [InlineData("field", "bad_field")]
    [InlineData("unsupported", "unsupported_field")]
    [InlineData("trailing", "trailing_bytes")]
    public async Task A_protocol_violation_kills_that_connection_only(string fault, string code)
    {
        using var good = await ConnectAsync();
        using var bad = await ConnectAsync();
        Assert.Equal("00", (await ExchangeAsync(good, Purchase("000010", 100)))[39]);

        await bad.SendMessageAsync(Malformed(fault));

        Assert.True(await bad.WaitClosedAsync(), "the violating connection was not closed");
        await Poll.UntilAsync(() => !_closed.IsEmpty, "the disconnected event");
        var closed = Assert.Single(_closed);
        Assert.Equal(DisconnectReason.Killed, closed.Reason);
        Assert.Equal("protocol_violation", closed.Detail);
        Assert.Equal(code, closed.Code);
        Assert.Equal(1, _gateway.Violations);

        // The other terminal goes on as if nothing happened.
        Assert.Equal("00", (await ExchangeAsync(good, Purchase("000011", 200)))[39]);
        Assert.Equal(1, _gateway.Stage.ConnectionCount);
    }

    [Fact]
    public async Task A_frame_over_the_maximum_is_a_protocol_error_of_the_framing()
    {
        using var bad = await ConnectAsync();
        await bad.SendAsync(new byte[] { 0xFF, 0xFF });   // declares 65535 bytes, over max_frame_bytes
        Assert.True(await bad.WaitClosedAsync());
        await Poll.UntilAsync(() => !_closed.IsEmpty, "the disconnected event");
        Assert.Equal(DisconnectReason.ProtocolError, Assert.Single(_closed).Reason);
    }

    private static byte[] Malformed(string fault)
    {
        var valid = IsoCodec.Encode(Purchase("000099", 100));
        switch (fault)
        {
            case "0A00":
            case "0210":
                System.Text.Encoding.ASCII.GetBytes(fault).CopyTo(valid, 0);
                return valid;
            case "bitmap":
                return valid[..7];
            case "field":
                valid[^1] = (byte)'\n';   // field 41 must be printable
                valid[12] = (byte)'X';    // field 2's length must be digits
                return valid;
            case "unsupported":
                valid[4 + 7] |= 0x01;     // bit 64: a MAC this gateway does not know
                return valid;
            default:
                return [.. valid, (byte)'!'];
        }
    }
}
