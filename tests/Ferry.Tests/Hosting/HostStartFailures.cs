using System.Text;
using Ferry.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Tests.Hosting;

/// <summary>A host given an appsettings.json's text, with <c>AddFerry</c> bound to its <c>Ferry</c> section: the failures its start reports.</summary>
internal static class HostStartFailures
{
    public static async Task<IReadOnlyList<string>> OfAsync(string appsettings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(appsettings)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        return error.Failures.ToList();
    }
}
