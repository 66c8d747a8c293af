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
        Assert.Contains("AddTcpServerStage(\"other\"): option 'group_size'", error.Message);   // reported together
        Assert.Empty(host.Services.GetRequiredService<FerryStages>().Servers);
    }
}
