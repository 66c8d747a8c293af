using System.Text;
using Ferry.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// A gateway's admin API takes connection ids from its routes (<c>POST /connections/{id}/close</c>). ASP.NET binds a route or
/// query value to a type that is <see cref="IParsable{TSelf}"/>; <see cref="ConnectionId"/> had only its own
/// <c>TryParse(ReadOnlySpan&lt;char&gt;, out …)</c>, which ASP.NET finds and refuses: mapping such a handler threw
/// InvalidOperationException ("TryParse method found on ConnectionId with incorrect format"), so every endpoint had to take a
/// string and parse it by hand.
/// </summary>
public sealed class ConnectionIdBindingTests
{
    [Fact]
    public async Task A_minimal_api_handler_takes_a_connection_id_from_its_route()
    {
        var id = new ConnectionId(0x8000_00a1, 42);
        // Before: Create threw InvalidOperationException, "TryParse method found on ConnectionId with incorrect format".
        var endpoint = RequestDelegateFactory.Create((ConnectionId id) => id.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
            new RequestDelegateFactoryOptions { RouteParameterNames = ["id"] });
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Request.Method = "POST";
        context.Request.RouteValues["id"] = id.ToString();
        context.Response.Body = new MemoryStream();

        await endpoint.RequestDelegate(context);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.Equal("42", Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()));
    }

    [Fact]
    public void The_parsable_forms_read_and_refuse_as_Parse_and_TryParse_do()
    {
        var id = new ConnectionId(0x8000_00a1, 42);
        Assert.Equal(id, Parse<ConnectionId>("800000a1-42"));
        Assert.True(TryParse<ConnectionId>("800000a1-42", out var parsed));
        Assert.Equal(id, parsed);
        Assert.False(TryParse<ConnectionId>(null, out _));
        Assert.False(TryParse<ConnectionId>("800000a1-0", out _));
        Assert.Throws<FormatException>(() => Parse<ConnectionId>("nope"));
        Assert.Equal(id, ConnectionId.Parse("800000a1-42".AsSpan(), null));
    }

    private static T Parse<T>(string s) where T : IParsable<T> => T.Parse(s, null);

    private static bool TryParse<T>(string? s, out T result) where T : IParsable<T> => T.TryParse(s, null, out result!);
}
