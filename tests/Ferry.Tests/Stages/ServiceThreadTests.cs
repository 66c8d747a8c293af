using Ferry.Transport;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.Stages;

public abstract class ServiceThreadTests(StageTransport transport)
{
    /// <summary>These tests on the epoll transport.</summary>
    public sealed class OnEpoll() : ServiceThreadTests(StageTransport.Epoll);

    /// <summary>These tests on the portable stream transport.</summary>
    public sealed class OnStream() : ServiceThreadTests(StageTransport.Stream);

    private StageTransport Transport => transport;

    [Fact]
    public async Task Affinity_and_priority_are_applied_to_the_service_thread()
    {
        var cpu = Environment.ProcessorCount - 1;
        await using var h = new FerryTestServer(new TcpServerStageOptions
        {
            ThreadProcessorAffinity = [cpu],
            ThreadPriority = ThreadPriority.Lowest,
        }.On(Transport));
        await h.StartAsync();
        var tid = h.Stage.ServiceThreadId;
        Assert.NotEqual(0, tid);
        Assert.NotEqual(Environment.ProcessId, tid);

        var status = await File.ReadAllLinesAsync($"/proc/self/task/{tid}/status");
        Assert.Contains($"Cpus_allowed_list:\t{cpu}", status);

        // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value; the command name may hold spaces.
        var stat = await File.ReadAllTextAsync($"/proc/self/task/{tid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal("10", fields[16]);
        Assert.DoesNotContain(h.Events.OfType<StageErrorEvent>(), e => e.Kind == StageErrorKind.Setup);
    }

    [Fact]
    public async Task The_stage_works_on_its_own_thread()
    {
        await using var h = new FerryTestServer(new TcpServerStageOptions().On(Transport));
        await h.StartAsync();
        var status = await File.ReadAllTextAsync($"/proc/self/task/{h.Stage.ServiceThreadId}/comm");
        Assert.StartsWith("ferry", status.Trim());
    }
}
