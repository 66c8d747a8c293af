using System.Diagnostics;
using System.Net;
using Ferry.Stages;
using Ferry.Stages.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Stages;

/// <summary>
/// <c>connection_rate_per_ip</c>'s table: the limit per address and window, windows that end, bounded
/// memory, and a cost per accept that does not grow with the number of addresses (hostile-net finding 7).
/// </summary>
public sealed class ConnectionRateTableTests
{
    private static IPAddress Address(int i) => new([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i]);

    [Fact]
    public void An_address_gets_its_rate_per_window_and_attempts_over_it_keep_it_refused()
    {
        var table = new ConnectionRateTable(limit: 3, windowMs: 1000);
        var a = Address(1);
        Assert.Equal([true, true, true, false, false], Enumerable.Range(0, 5).Select(i => table.TryAdmit(a, 100 + i)));
        // Another address has its own window.
        Assert.True(table.TryAdmit(Address(2), 200));
        // Still inside a's window (it began at 100): refused.
        Assert.False(table.TryAdmit(a, 1099));
        // The window has ended: a new one begins with this attempt.
        Assert.True(table.TryAdmit(a, 1100));
        Assert.True(table.TryAdmit(a, 1101));
        Assert.True(table.TryAdmit(a, 1102));
        Assert.False(table.TryAdmit(a, 1103));
    }

    [Fact]
    public void Windows_that_ended_are_forgotten_as_time_goes_on()
    {
        var table = new ConnectionRateTable(limit: 1, windowMs: 1000);
        for (var i = 0; i < 1000; i++)
            table.TryAdmit(Address(i), i);
        Assert.Equal(1000, table.Count);
        // At 1500 the windows that began at 500 or before have ended; the attempt drops them.
        table.TryAdmit(Address(5000), 1500);
        Assert.Equal(499 + 1, table.Count);
        table.TryAdmit(Address(5001), 10_000);
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void The_table_is_bounded_and_forgets_the_window_that_began_first()
    {
        var table = new ConnectionRateTable(limit: 1, windowMs: 60_000, capacity: 100);
        for (var i = 0; i < 250; i++)
            Assert.True(table.TryAdmit(Address(i), i));
        Assert.Equal(100, table.Count);
        // The newest hundred are still limited; the oldest were forgotten early.
        Assert.False(table.TryAdmit(Address(249), 300));
        Assert.False(table.TryAdmit(Address(150), 300));
        Assert.True(table.TryAdmit(Address(0), 300));
    }

    [Fact]
    public void A_hundred_thousand_addresses_inside_their_windows_cost_linear_time()
    {
        // The old sweep copied the whole table on every accept once it held 4096 addresses: 100,000
        // addresses inside a 10-minute window took ~5e9 entry copies (minutes of CPU). Linear is well
        // under a second; the bound is generous for a loaded machine.
        var options = new TcpServerStageOptions { ConnectionRatePerIp = 2, ConnectionRateWindow = TimeSpan.FromMinutes(10) };
        var time = new FakeTimeProvider();
        var clock = new StageClock(time);
        var events = new EventSink(new object(), "rate", Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, new Ferry.Bus.InProcessBus(), clock, CancellationToken.None);
        var admission = new AdmissionControl(options, events);
        var local = new IPEndPoint(IPAddress.Loopback, 9000);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 100_000; i++)
        {
            if (i % 1000 == 0)
            {
                time.Advance(TimeSpan.FromMilliseconds(1));
                clock.Update();
            }
            Assert.Null(admission.Check(new IPEndPoint(Address(i), 1000), local));
        }
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"100,000 admissions took {watch.Elapsed}");
        // The limit still holds for every address: the third attempt within the window is refused.
        Assert.Null(admission.Check(new IPEndPoint(Address(99_999), 1001), local));
        Assert.NotNull(admission.Check(new IPEndPoint(Address(99_999), 1002), local));
    }
}
