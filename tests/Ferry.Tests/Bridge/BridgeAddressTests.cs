using System.Net;
using Ferry.Bridge.Internal;

namespace Ferry.Tests.Bridge;

/// <summary>Which address a bridge server given a host name listens on (libzmq, and so Rogue, dials IPv4 by default).</summary>
public sealed class BridgeAddressTests
{
    [Fact]
    public void A_host_name_that_resolves_to_ipv6_first_is_bound_on_its_ipv4_address()
    {
        IPAddress[] resolved = [IPAddress.IPv6Loopback, IPAddress.Loopback];

        Assert.Equal(IPAddress.Loopback, BridgeAddress.PreferredForBind(resolved));
    }

    [Fact]
    public void A_host_name_with_only_ipv6_addresses_is_bound_on_the_first_of_them()
    {
        IPAddress[] resolved = [IPAddress.IPv6Loopback, IPAddress.Parse("fd00::1")];

        Assert.Equal(IPAddress.IPv6Loopback, BridgeAddress.PreferredForBind(resolved));
        Assert.Null(BridgeAddress.PreferredForBind([]));
    }
}
