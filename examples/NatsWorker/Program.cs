using System.Runtime.InteropServices;
using Ferry.Examples;
using NATS.Client.Core;
using NatsWorker;

// nats-worker [--nats URL] [--stage NAME] [--subject-prefix P] [--forbidden WORD] [--mode core|jetstream]
if (!CommandLine.TryParse("nats-worker", WorkerCommandLine.Usage, args, WorkerCommandLine.Parse, out var settings, out var exitCode))
    return exitCode;

await using var nats = new NatsConnection(new NatsOpts { Url = settings.Nats, Name = "ferry-nats-worker" });
var worker = new UppercaseWorker(nats, settings.Stage, settings.SubjectPrefix, settings.Forbidden);
using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
Console.Error.WriteLine($"nats-worker: {settings.Mode} on {worker.IngressSubject}, replies on {worker.EgressSubject}.<instance>, kill switch on {worker.ControlSubject}");
try
{
    await nats.ConnectAsync();
}
catch (NatsException e)
{
    // No server there (yet): one line, as the gateway's own start says it, not a stack trace.
    Console.Error.WriteLine($"nats-worker: cannot connect to {settings.Nats}: {e.Message}");
    return 1;
}
try
{
    await (settings.Mode == "jetstream" ? worker.RunJetStreamAsync(stop.Token) : worker.RunCoreAsync(stop.Token));
}
catch (OperationCanceledException)
{
}
catch (NatsNoRespondersException) when (settings.Mode == "jetstream")
{
    // Nothing answers the JetStream API: the server runs without it.
    Console.Error.WriteLine($"nats-worker: the NATS server at {settings.Nats} has no JetStream, which --mode jetstream needs (start it with -js)");
    return 1;
}
Console.Error.WriteLine($"nats-worker: replied {worker.Replied}, killed {worker.Killed}");
return 0;
