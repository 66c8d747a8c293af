using System.Text;
using Ferry.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Ferry.Nats.Tests.Support;

/// <summary>A Generic Host with one line server stage on a NATS bus, configured as an <c>appsettings.json</c> would.</summary>
internal static class HostedGateway
{
    public static IHost Build(string stage, string natsUrl, string subjectPrefix)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes($$"""
            {
              "Ferry": {
                "Stages": { "{{stage}}": { "Type": "tcp_server", "Bind": "127.0.0.1:0", "Framing": "lines" } },
                "Bus": { "Type": "nats", "Url": "{{natsUrl}}", "SubjectPrefix": "{{subjectPrefix}}" }
              }
            }
            """)));
        builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
        return builder.Build();
    }
}
