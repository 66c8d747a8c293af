using System.Runtime.InteropServices;
using NATS.Client.Core;
using NatsWorker;

// nats-worker [--nats URL] [--stage NAME] [--subject-prefix P] [--forbidden WORD] [--mode core|jetstream]
var settings = new Dictionary<string, string>
{
    ["--nats"] = "nats://127.0.0.1:4222", ["--stage"] = "tcp_server", ["--subject-prefix"] = "ferry", ["--forbidden"] = "forbidden", ["--mode"] = "core",
};
for (var i = 0; i < args.Length; i++)
{
    if (!settings.ContainsKey(args[i]) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"nats-worker: '{args[i]}' is not allowed; options (each with a value): {string.Join(", ", settings.Keys)}");
        return 2;
    }
    settings[args[i]] = args[++i];
}
if (settings["--mode"] is not ("core" or "jetstream"))
{
    Console.Error.WriteLine($"nats-worker: --mode '{settings["--mode"]}' is not allowed; use core or jetstream");
    return 2;
}

await using var nats = new NatsConnection(new NatsOpts { Url = settings["--nats"], Name = "ferry-nats-worker" });
var worker = new UppercaseWorker(nats, settings["--stage"], settings["--subject-prefix"], settings["--forbidden"]);
using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
Console.Error.WriteLine($"nats-worker: {settings["--mode"]} on {worker.IngressSubject}, replies on {worker.EgressSubject}.<instance>, kill switch on {worker.ControlSubject}");
try
{
    await (settings["--mode"] == "jetstream" ? worker.RunJetStreamAsync(stop.Token) : worker.RunCoreAsync(stop.Token));
}
catch (OperationCanceledException)
{
}
Console.Error.WriteLine($"nats-worker: replied {worker.Replied}, killed {worker.Killed}");
return 0;
