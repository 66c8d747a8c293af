namespace Ferry.Tests.Support;

/// <summary>
/// Moving a <see cref="FerryTestServer"/>'s fake clock and waiting for its service loop to catch up. The
/// loop-round detection needs the stage's internals (<see cref="StageTime"/>), which is why this lives
/// with Ferry's own tests and not in Ferry.Testing.
/// </summary>
public static class FakeTimeSteps
{
    /// <summary>Advances the server's <see cref="StageTime"/> and waits until its stage has finished a round at the new time.</summary>
    public static async Task AdvanceAsync(this FerryTestServer server, TimeSpan by)
    {
        var time = ClockOf(server);
        time.Advance(by);
        await time.SettleAsync(server);
    }

    /// <summary>Waits until the server's stage has finished a round at its fake clock's current time.</summary>
    public static Task SettleAsync(this FerryTestServer server) => ClockOf(server).SettleAsync(server);

    private static StageTime ClockOf(FerryTestServer server)
        => server.Time as StageTime ?? throw new InvalidOperationException("the test server runs on real time: give it a StageTime");
}
