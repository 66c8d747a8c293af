using BenchmarkDotNet.Running;

if (args is ["tls-record", ..])
{
    // A plain timed loop (issue 11): dotnet run -c Release --project bench/Ferry.Benchmarks -- tls-record [messages] [idle objects]
    if (OperatingSystem.IsLinux())
        Ferry.Benchmarks.Tls.TlsRecordBench.Run(args);
    else
        Console.Error.WriteLine("tls-record measures the epoll transport's OpenSSL engine, which runs on Linux only");
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
