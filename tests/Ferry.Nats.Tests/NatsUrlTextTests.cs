using Ferry.Nats.Internal;

namespace Ferry.Nats.Tests;

/// <summary>A server URL's password or token is never shown: not in log lines, errors, nor ferry check's summary.</summary>
public sealed class NatsUrlTextTests
{
    [Theory]
    [InlineData("nats://u:hunter2@127.0.0.1:4222", "nats://u:***@127.0.0.1:4222")]
    [InlineData("nats://s3cr3t-token@127.0.0.1:4222", "nats://***@127.0.0.1:4222")]
    [InlineData("tls://user:p@ss:word@host:4443", "tls://user:***@host:4443")]
    [InlineData("nats://u:pw@127.0.0.1:4222/x?y=@1", "nats://u:***@127.0.0.1:4222/x?y=@1")]
    [InlineData("nats://127.0.0.1:4222", "nats://127.0.0.1:4222")]
    [InlineData("nats://127.0.0.1:4222/a@b", "nats://127.0.0.1:4222/a@b")]
    [InlineData("", "")]
    [InlineData("not a url", "not a url")]
    public void Masks_the_secret_and_keeps_the_rest(string url, string shown) => Assert.Equal(shown, NatsUrlText.Redacted(url));

    [Fact]
    public void A_url_that_is_refused_is_quoted_without_its_password()
    {
        var options = new NatsGatewayOptions { Url = "nats://u:hunter2@127.0.0.1:42 22" };
        var ex = Assert.Throws<NatsOptionsException>(() => options.Validate());
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("nats://u:***@", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nats://127.0.0.1:4222/path")]
    [InlineData("nats://127.0.0.1:4222?x=1")]
    [InlineData("tls://127.0.0.1:4222/#f")]
    public void A_path_query_or_fragment_the_client_would_drop_is_refused(string url)
    {
        var ex = Assert.Throws<NatsOptionsException>(() => new NatsGatewayOptions { Url = url }.Validate());
        Assert.Contains("its path, query or fragment would be ignored; use nats://host:port, e.g. ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("://127.0.0.1:4222", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nats://127.0.0.1:4222")]
    [InlineData("nats://127.0.0.1:4222/")]
    [InlineData("nats://u:p@localhost")]
    [InlineData("ws://127.0.0.1:8080/nats")]
    public void A_plain_server_address_is_taken(string url) => new NatsGatewayOptions { Url = url }.Validate();
}
