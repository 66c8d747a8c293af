using System.Text;
using Ferry.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Hosting;

/// <summary>
/// A .NET user writes appsettings.json with the options' property names. Two of them say more than their key
/// (<c>EgressBufferBytes</c> for <c>egress_buffer</c>, <c>ReadBufferBytes</c> for <c>read_buffer</c>) and were refused as
/// unknown keys; they are taken as those keys, and the pair given twice is told as any key given twice.
/// </summary>
public sealed class PropertyNameKeyTests
{
    [Fact]
    public async Task The_options_property_names_set_the_buffers_in_a_hosts_configuration()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            {
              "Ferry": {
                "Stages": {
                  "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "EgressBufferBytes": "64KiB", "ReadBufferBytes": 4096 },
                  "back":  { "Type": "tcp_client", "Config": { "connect": "127.0.0.1:1", "egress_buffer_bytes": "32KiB", "read_buffer_bytes": "8KiB" } }
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
            Assert.Equal(64 * 1024, stages.GetServer("front").Options.EgressBufferBytes);
            Assert.Equal(4096, stages.GetServer("front").Options.ReadBufferBytes);
            Assert.Equal(32 * 1024, stages.GetClient("back").Options.EgressBufferBytes);
            Assert.Equal(8 * 1024, stages.GetClient("back").Options.ReadBufferBytes);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Both_spellings_at_once_is_the_key_given_twice()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            { "Ferry": { "Stages": { "front": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "EgressBuffer": "64KiB", "EgressBufferBytes": "32KiB" } } } }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        var failure = Assert.Single(error.Failures);
        Assert.Contains("'EgressBuffer' is given twice", failure, StringComparison.Ordinal);
    }
}
