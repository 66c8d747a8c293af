using Ferry.Hosting;
using Ferry.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// Mistakes in registering hosted stages are reported where they are made, or with the other problems when the host
/// starts, never as an exception from inside the options machinery that names neither the call nor the stage.
/// </summary>
public sealed class HostingRegistrationTests
{
    [Fact]
    public void A_null_stage_name_is_refused_by_the_call_that_gives_it()
    {
        var services = new ServiceCollection();

        // Before: accepted, and the host's start failed later with "Value cannot be null. (Parameter 'key')".
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => services.AddTcpServerStage(null!)).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => services.AddTcpClientStage(null!)).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => services.ConfigureTcpServerStage(null!, (_, _) => { })).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => services.ConfigureTcpClientStage(null!, (_, _) => { })).ParamName);
    }

    [Fact]
    public async Task A_configure_that_returns_null_fails_the_start_naming_the_stage_with_the_other_problems()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddTcpServerStage("front", _ => null!);
        builder.Services.AddTcpClientStage("back", _ => null!);
        builder.Services.AddTcpServerStage("other", o => o with { Bind = "127.0.0.1:0", GroupSize = 0 });
        using var host = builder.Build();

        // Before: a NullReferenceException out of the options factory, naming nothing.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("AddTcpServerStage(\"front\"): configure: returned null; return the options it is given", error.Message);
        Assert.Contains("AddTcpClientStage(\"back\"): configure: returned null", error.Message);
        Assert.Contains("AddTcpServerStage(\"other\"): TcpServerStageOptions.GroupSize", error.Message);   // reported together
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }

    [Fact]
    public async Task A_configure_that_sets_another_name_fails_the_start_instead_of_being_renamed_silently()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddTcpServerStage("front", o => o with { Name = "edge", Bind = "127.0.0.1:0" });
        builder.Services.AddTcpClientStage("back", o => o with { Name = "upstream", Connect = "127.0.0.1:1" });
        using var host = builder.Build();

        // Before: both started, as 'front' and 'back'; the names given in configure were dropped without a word.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("AddTcpServerStage(\"front\"): configure: sets Name 'edge', but the stage is named 'front' by the first argument; "
            + "drop Name from configure, or register the stage under 'edge'", error.Message);
        Assert.Contains("AddTcpClientStage(\"back\"): configure: sets Name 'upstream'", error.Message);
    }

    [Fact]
    public async Task A_configure_that_keeps_the_name_it_is_given_or_builds_new_options_is_fine()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddTcpServerStage("front", o => o with { Name = "front", Bind = "127.0.0.1:0" });
        builder.Services.AddTcpServerStage("side", o => o with { Bind = "127.0.0.1:0" });
        builder.Services.AddTcpServerStage("fresh", _ => new TcpServerStageOptions { Bind = "127.0.0.1:0" });   // the default name: no choice
        using var host = builder.Build();

        await host.StartAsync();
        try
        {
            Assert.Equal(["front", "side", "fresh"], host.Services.GetRequiredService<FerryStages>().Servers.Keys);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
