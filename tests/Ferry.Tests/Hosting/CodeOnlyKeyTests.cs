namespace Ferry.Tests.Hosting;

/// <summary>
/// A .NET user writes the options' properties as appsettings keys; <c>Socket</c> and the tls block's <c>Protocols</c> are properties
/// that configuration has no key for. They are told so (what they are, that they are set in code), not a plain "unknown key".
/// </summary>
public sealed class CodeOnlyKeyTests
{
    private static Task<IReadOnlyList<string>> HostFailuresAsync(string stages) => HostStartFailures.OfAsync($$"""{ "Ferry": { "Stages": { {{stages}} } } }""");

    [Fact]
    public async Task Socket_in_a_stage_is_told_it_is_set_in_code()
    {
        var line = Assert.Single(await HostFailuresAsync("""
            "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Socket": { "NoDelay": false } }
            """));
        Assert.StartsWith("configuration 'Ferry:Stages:front:Socket': Stages.front.Socket: unknown key 'Socket' in a tcp_server stage: the TCP socket options "
            + "(NoDelay, KeepAlive, KeepAliveIdle, ReceiveBufferSize, SendBufferSize) are set in code only, as TcpServerStageOptions.Socket", line);
    }

    [Fact]
    public async Task Protocols_in_the_tls_block_is_told_it_is_set_in_code()
    {
        var line = Assert.Single(await HostFailuresAsync("""
            "back": { "Type": "tcp_client", "Connect": "127.0.0.1:1", "Tls": { "Secure": true, "Protocols": "Tls13" } }
            """));
        Assert.StartsWith("configuration 'Ferry:Stages:back:Tls:Protocols': Stages.back.Tls.Protocols: unknown key 'Protocols' in the tls block: the TLS versions "
            + "are set in code only, as TlsOptions.Protocols (default TLS 1.2 and 1.3); configuration has no key for them", line);
    }

    [Theory]
    [InlineData("tcp_server", "\"Bind\": \"127.0.0.1:0\"", "ThreadPriority", "\"Highest\"", "TcpServerStageOptions")]
    [InlineData("tcp_client", "\"Connect\": \"127.0.0.1:1\"", "ThreadProcessorAffinity", "[0]", "TcpClientStageOptions")]
    public async Task The_service_threads_scheduling_is_told_it_is_set_in_code(string type, string address, string key, string value, string options)
    {
        // Before: a plain "unknown key", though the README promises that properties configuration has no key for are told so.
        var line = Assert.Single(await HostFailuresAsync($$$"""
            "s": { "Type": "{{{type}}}", {{{address}}}, "{{{key}}}": {{{value}}} }
            """));
        Assert.Contains($"unknown key '{key}' in a {type} stage: the service thread's priority and processor affinity are set in code only, "
            + $"as {options}.ThreadPriority and {options}.ThreadProcessorAffinity", line);
    }

    [Fact]
    public async Task An_accept_filter_is_told_it_is_code()
    {
        var line = Assert.Single(await HostFailuresAsync("""
            "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "AcceptFilter": "x" }
            """));
        Assert.Contains("unknown key 'AcceptFilter' in a tcp_server stage: an accept filter is code (a function of the peer), set as TcpServerStageOptions.AcceptFilter", line);
        Assert.Contains("for address rules, AllowFrom and DenyFrom are keys", line);
    }
}
