using Ferry.Nats.Internal;
using Ferry.Nats.Tests.Support;
using NATS.Client.JetStream;

namespace Ferry.Nats.Tests;

/// <summary>
/// The words a stream recreation logs when JetStream does not answer: a server whose INFO advertises JetStream and lets the
/// request time out is busy or paused, told apart from a server without JetStream (it used to say "JetStream is not enabled"
/// for both, sending the operator to the server's configuration instead of its load).
/// </summary>
public sealed class RecreationRefusalWordsTests
{
    [SkippableFact]
    public async Task A_timed_out_request_on_a_server_with_JetStream_is_a_server_that_did_not_answer()
    {
        await using var server = await NatsServer.StartNewAsync();
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);

        var words = JetStreamSetup.DescribeRefusal(js, server.Url, new NatsJSApiNoResponseException(), "mode: core");

        Assert.Equal($"the NATS server at '{server.Url}' has JetStream (its INFO says so) but did not answer within {js.Opts.RequestTimeout.TotalSeconds:0.###} s: "
            + "it is busy, paused or stuck (look at its load and log)", words);
    }

    [SkippableFact]
    public async Task The_same_on_a_server_without_JetStream_says_JetStream_is_not_enabled_there()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        await using var nats = await Observer.ConnectAsync(server);
        var js = new NatsJSContext(nats);

        var words = JetStreamSetup.DescribeRefusal(js, server.Url, new NatsJSApiNoResponseException(), "mode: core");

        Assert.Equal(JetStreamSetup.NoJetStreamMessage(server.Url, "mode: core"), words);
        Assert.Contains("JetStream is not enabled there", words);
    }
}
