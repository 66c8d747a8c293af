using Ferry.Bridge;
using Ferry.Tests.Support;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// <see cref="FrameBridgeServer"/>'s constructor documents <see cref="ArgumentException"/> for an address that resolves to
/// nothing; it threw the resolver's <see cref="System.Net.Sockets.SocketException"/> ("Name or service not known"), which
/// named neither the address nor the bridge, and which a caller catching the documented exception let through.
/// </summary>
public sealed class BridgeAddressErrorTests
{
    [Fact]
    public void A_bind_address_that_does_not_resolve_is_an_argument_exception_naming_it()
    {
        // An empty label: the resolver refuses the name itself, so no query leaves the machine.
        var error = Assert.Throws<ArgumentException>(() => new FrameBridgeServer("a..b", FreePorts.One()));

        Assert.Equal("address", error.ParamName);
        Assert.StartsWith("cannot resolve 'a..b' to an address to bind the bridge to: ", error.Message);
        Assert.IsType<System.Net.Sockets.SocketException>(error.InnerException);
    }
}
