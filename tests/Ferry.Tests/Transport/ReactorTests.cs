using Ferry.Transport;
using Ferry.Transport.Interop;

namespace Ferry.Tests.Transport;

public sealed unsafe class ReactorTests
{
    [Fact]
    public void A_wake_racing_dispose_never_writes_to_a_descriptor_reused_in_between()
    {
        var reactor = new Reactor();
        var reused = new List<int>();
        // The race, made certain: the reactor is disposed and its descriptor numbers handed out again
        // after Wake decided to write and before it writes.
        reactor.BeforeWakeWriteForTest = () =>
        {
            reactor.Dispose();
            for (var i = 0; i < 2; i++)
                reused.Add(Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC));
        };
        reactor.Wake();
        try
        {
            foreach (var fd in reused)
            {
                Assert.True(fd >= 0);
                long value = 0;
                var n = Libc.read(fd, (byte*)&value, 8);
                Assert.True(n < 0 && Libc.LastError == Libc.EAGAIN, $"descriptor {fd}, opened after the reactor was disposed, was written to");
            }
        }
        finally
        {
            foreach (var fd in reused)
                Libc.close(fd);
        }
    }

    [Fact]
    public void Wake_after_dispose_does_nothing()
    {
        var reactor = new Reactor();
        reactor.Dispose();
        reactor.Wake();
        reactor.Dispose();
    }
}
