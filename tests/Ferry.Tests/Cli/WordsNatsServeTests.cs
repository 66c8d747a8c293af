using Ferry.Cli;
using Ferry.Tests.Support;

namespace Ferry.Tests.Cli;

/// <summary>
/// ferry serve's NATS flags are told by the flag the user typed, as its other flags are: not the gateway's key (<c>option 'url'</c>) nor
/// the property a developer sets (<c>NatsGatewayOptions.Url</c>). The gateway's problems are refused before anything binds or connects.
/// </summary>
public sealed class WordsNatsServeTests
{
    private static async Task<(int Code, List<string> Err)> RunAsync(params string[] args)
    {
        var stderr = new LineWriter();
        var code = await FerryCommand.RunAsync(args, TextReader.Null, new LineWriter(), stderr, CancellationToken.None);
        return (code, stderr.Lines.ToList());
    }

    [Fact]
    public async Task A_bad_url_is_told_at_the_nats_flag()
    {
        // Before: "ferry serve: --nats: option 'url': 'http://127.0.0.1:4222' is not allowed; …".
        var (code, err) = await RunAsync("serve", "--bind", "127.0.0.1:0", "--nats", "http://127.0.0.1:4222");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --nats 'http://127.0.0.1:4222' is not allowed; use nats://host:port (or tls://, ws://, wss://)", Assert.Single(err));
    }

    [Fact]
    public async Task A_bad_prefix_is_told_at_its_flag_once_not_again_by_every_subject_made_from_it()
    {
        // Before: "--nats: option 'subject_prefix': 'a b' is not allowed; …; option 'ingress_subject': '{prefix}.{stage}.in' is not allowed; …"
        // and the same for the egress, control, events and stats subjects, none of which the user set.
        var (code, err) = await RunAsync("serve", "--bind", "127.0.0.1:0", "--nats", "nats://127.0.0.1:4222", "--subject-prefix", "a b");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --subject-prefix 'a b' is not allowed; use subject tokens (letters, digits, '-', '_') separated by '.'", Assert.Single(err));
    }

    [Fact]
    public async Task Both_at_once_are_both_told()
    {
        var (code, err) = await RunAsync("serve", "--bind", "127.0.0.1:0", "--nats", "ftp://x", "--subject-prefix", "a.*");
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --nats 'ftp://x' is not allowed; use nats://host:port (or tls://, ws://, wss://); "
            + "--subject-prefix 'a.*' is not allowed; use subject tokens (letters, digits, '-', '_') separated by '.'", Assert.Single(err));
    }

    [Fact]
    public async Task A_prefix_too_long_for_nats_is_told_once_at_its_flag()
    {
        // Before: "--nats: option 'ingress_subject': … use a shorter subject_prefix", then the same for four more subjects
        // serve has no flag for.
        var prefix = new string('p', 995);
        var (code, err) = await RunAsync("serve", "--bind", "127.0.0.1:0", "--nats", "nats://127.0.0.1:4222", "--subject-prefix", prefix);
        Assert.Equal(2, code);
        Assert.Equal("ferry serve: --subject-prefix 'pppppppppppppppppppp…' (995 characters) is too long: with the stage's name it makes the gateway's "
            + "subjects or streams up to 1013 characters; NATS takes at most 1000 in a subject (nats-server's control line) and 255 in a stream name: "
            + "use a shorter --subject-prefix", Assert.Single(err));
    }
}
