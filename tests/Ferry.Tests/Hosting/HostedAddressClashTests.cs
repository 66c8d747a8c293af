using System.Text;
using Ferry.Hosting;
using Ferry.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.Hosting;

/// <summary>A Generic Host refuses two stages given one listening address before any stage starts, as ferry check does.</summary>
public sealed class HostedAddressClashTests
{
    [Fact]
    public async Task Two_stages_on_one_address_fail_the_start_before_either_listens()
    {
        var first = FreePorts.Pair(); // the bridge's two ports
        var port = first + 1;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            { "Ferry": { "Stages": {
                "front": { "Type": "tcp_server", "Bind": "127.0.0.1:{{port}}" },
                "bridge": { "Type": "bridge_server", "Address": "127.0.0.1", "Port": {{first}} } } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        builder.Services.AddTcpServerStage("admin", o => o with { Bind = $":{port}" });
        using var host = builder.Build();

        // Before: front (or the bridge) started and listened, the other failed to bind, and the host stopped what had started.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(
        [
            $"AddTcpServerStage(\"admin\"): stage 'admin' listens on all interfaces, port {port}, which stage 'bridge' (configuration 'Ferry:Stages:bridge:Port') already listens on (127.0.0.1:{port}); give each stage its own port",
            $"configuration 'Ferry:Stages:front:Bind': stage 'front' listens on 127.0.0.1:{port}, which stage 'bridge' (configuration 'Ferry:Stages:bridge:Port') already listens on; give each stage its own port",
        ], error.Failures.Order(StringComparer.Ordinal));
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
        Assert.True(FreePorts.IsFree(port));
    }
}
