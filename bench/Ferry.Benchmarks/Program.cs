using BenchmarkDotNet.Running;

if (args is ["tls-record", ..])
{
    // A plain timed loop (issue 11): dotnet run -c Release --project bench/Ferry.Benchmarks -- tls-record [messages] [idle objects]
    Ferry.Benchmarks.Tls.TlsRecordBench.Run(args);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
