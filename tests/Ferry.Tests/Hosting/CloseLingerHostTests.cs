using System.Text;
using Ferry.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Hosting;

/// <summary><c>close_linger</c> from a Generic Host's configuration: the property (<c>CloseLinger</c>) and the key in a stage's <c>Config</c>.</summary>
public sealed class CloseLingerHostTests
{
    [Fact]
    public async Task A_hosts_configuration_sets_close_linger_on_server_and_client_stages()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            {
              "Ferry": {
                "Stages": {
                  "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "CloseLinger": "500ms" },
                  "side":  { "Type": "tcp_server", "Config": { "bind": "127.0.0.1:0", "close_linger": "0" } },
                  "back":  { "Type": "tcp_client", "Config": { "connect": "127.0.0.1:1", "close_linger": "3s" } }
                }
              }
            }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var stages = host.Services.GetRequiredService<FerryStages>();
            Assert.Equal(TimeSpan.FromMilliseconds(500), stages.GetServer("front").Options.CloseLinger);
            Assert.Equal(TimeSpan.Zero, stages.GetServer("side").Options.CloseLinger);
            Assert.Equal(TimeSpan.FromSeconds(3), stages.GetClient("back").Options.CloseLinger);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
