using System.Diagnostics;
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Transport.Tls.OpenSsl;

namespace Ferry.Benchmarks.Tls;

/// <summary>
/// Issue 11, "OpenSSL through memory BIOs": what one 64 B record costs written on one side of a connected
/// pair and read on the other, through SslStream over an in-memory stream and through OpenSSL called
/// directly (<see cref="TlsRecordSession"/>); and what an idle server SSL object holds after a TLS 1.3
/// handshake. A plain timed loop (thread CPU time), not BenchmarkDotNet: the figure wanted is ns per
/// message on a busy machine, where CPU time is steadier than wall time.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe partial class TlsRecordBench
{
    public static void Run(string[] args)
    {
        var messages = args.Length > 1 ? int.Parse(args[1]) : 1_000_000;
        var idle = args.Length > 2 ? int.Parse(args[2]) : 10_000;
        using var certificate = MakeCertificate();
        Console.WriteLine($"uptime: {File.ReadAllText("/proc/loadavg").Trim()}");
        // Interleaved rounds; the least CPU time of each is the one least disturbed by the machine's other load.
        var best = new double[3];
        Array.Fill(best, double.MaxValue);
        for (var round = 0; round < 5; round++)
        {
            best[0] = Math.Min(best[0], Report("sslstream sync ", SslStreamLoop(certificate, messages, async: false), messages));
            best[1] = Math.Min(best[1], Report("sslstream async", SslStreamLoop(certificate, messages, async: true), messages));
            best[2] = Math.Min(best[2], Report("openssl direct ", OpenSslLoop(certificate, messages), messages));
        }
        Console.WriteLine($"least cpu ns/msg: sslstream sync {best[0]:F0}, sslstream async {best[1]:F0}, openssl direct {best[2]:F0} ({best[1] / best[2]:F2}x)");
        IdleObjects(certificate, idle);
    }

    private static double Report(string name, (double Cpu, double Wall) t, int messages)
    {
        Console.WriteLine($"{name}: {t.Cpu * 1e9 / messages,7:F0} ns/msg cpu, {t.Wall * 1e9 / messages,7:F0} ns/msg wall ({messages} x 64 B, write + read)");
        return t.Cpu * 1e9 / messages;
    }

    private static X509Certificate2 MakeCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var self = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(self.Export(X509ContentType.Pkcs12), null);
    }

    // ---- SslStream over an in-memory pair ----

    private static (double, double) SslStreamLoop(X509Certificate2 certificate, int messages, bool async)
    {
        var (a, b) = MemoryDuplex.Pair();
        using var client = new SslStream(a, false, (_, _, _, _) => true);
        using var server = new SslStream(b, false);
        var serverTask = server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(certificate, null),
            EnabledSslProtocols = SslProtocols.Tls13,
        });
        client.AuthenticateAsClient(new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = SslProtocols.Tls13 });
        serverTask.GetAwaiter().GetResult();
        var message = new byte[64];
        var into = new byte[16 * 1024];
        // The server's session tickets reach the client on its first read: send one message back first.
        server.Write(message);
        client.ReadExactly(into.AsSpan(0, 64));
        return Timed(messages, () =>
        {
            if (async)
            {
                client.WriteAsync(message).AsTask().GetAwaiter().GetResult();
                if (server.ReadAsync(into).AsTask().GetAwaiter().GetResult() != 64)
                    throw new InvalidOperationException("short read");
            }
            else
            {
                client.Write(message);
                if (server.Read(into) != 64)
                    throw new InvalidOperationException("short read");
            }
        });
    }

    // ---- OpenSSL directly ----

    private static (double, double) OpenSslLoop(X509Certificate2 certificate, int messages)
    {
        using var serverContext = SslContextHandle.CreateServer(certificate, [], SslProtocols.Tls13, null, false);
        using var clientContext = SslContextHandle.CreateClient(SslProtocols.Tls13);
        using var client = new TlsRecordSession(clientContext, server: false);
        using var server = new TlsRecordSession(serverContext, server: true);
        Handshake(client, server);
        var message = new byte[64];
        var into = new byte[16 * 1024];
        return Timed(messages, () =>
        {
            if (!client.Encrypt(message, out var error))
                throw new InvalidOperationException(error);
            // What a recv would hand the server: the client's ciphertext, decrypted in place.
            var sent = client.Output;
            fixed (byte* p = sent)
            {
                server.Feed(p, sent.Length);
                if (server.Decrypt(into, out error) != 64 || server.InLeft != 0)
                    throw new InvalidOperationException("short read " + error);
            }
            client.Consumed(sent.Length);
        });
    }

    /// <summary>Runs both sides' handshakes to the end, then lets the client take the server's tickets.</summary>
    private static void Handshake(TlsRecordSession client, TlsRecordSession server)
    {
        for (var i = 0; i < 10; i++)
        {
            var c = client.Handshake(out var ce);
            Move(client, server);
            var s = server.Handshake(out var se);
            Move(server, client);
            if (c == TlsRecordSession.Step.Failed || s == TlsRecordSession.Step.Failed)
                throw new InvalidOperationException(ce ?? se);
            if (c == TlsRecordSession.Step.Done && s == TlsRecordSession.Step.Done)
            {
                Span<byte> none = stackalloc byte[64];
                client.Decrypt(none, out _);
                client.Consumed(client.OutLength);
                return;
            }
        }
        throw new InvalidOperationException("handshake did not finish");
    }

    /// <summary>All of <paramref name="from"/>'s handshake output into <paramref name="to"/>'s handshake.</summary>
    private static void Move(TlsRecordSession from, TlsRecordSession to)
    {
        var bytes = from.Output.ToArray();
        from.Consumed(bytes.Length);
        if (bytes.Length == 0)
            return;
        fixed (byte* p = bytes)
        {
            to.Feed(p, bytes.Length);
            // Drive the receiver over what was just fed; the handshake pumps its own.
            if (to.InLeft > 0)
                to.Handshake(out _);
            to.Feed(null, 0);
        }
    }

    private static (double Cpu, double Wall) Timed(int messages, Action step)
    {
        for (var i = 0; i < messages / 10; i++)
            step();
        var cpu0 = ThreadCpuSeconds();
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < messages; i++)
            step();
        return (ThreadCpuSeconds() - cpu0, wall.Elapsed.TotalSeconds);
    }

    private static double ThreadCpuSeconds()
    {
        Timespec t;
        clock_gettime(3 /* CLOCK_THREAD_CPUTIME_ID */, &t);
        return t.Seconds + t.Nanoseconds / 1e9;
    }

    // ---- idle memory ----

    private static void IdleObjects(X509Certificate2 certificate, int count)
    {
        using var serverContext = SslContextHandle.CreateServer(certificate, [], SslProtocols.Tls13, null, false);
        using var clientContext = SslContextHandle.CreateClient(SslProtocols.Tls13);
        var live = new LiveCount();
        // Warm up: the first handshakes load providers and tables once per process.
        for (var i = 0; i < 100; i++)
        {
            using var c = new TlsRecordSession(clientContext, false);
            using var s = new TlsRecordSession(serverContext, true);
            Handshake(c, s);
        }
        GC.Collect();
        malloc_trim(0);
        var (heap0, rss0) = (MallocInUse(), Rss());
        var held = new List<TlsRecordSession>(count);
        for (var i = 0; i < count; i++)
        {
            using var c = new TlsRecordSession(clientContext, false);
            var s = new TlsRecordSession(serverContext, true, live);
            Handshake(c, s);
            held.Add(s);
        }
        GC.Collect();
        var (heap1, rss1) = (MallocInUse(), Rss());
        malloc_trim(0);
        var rss2 = Rss();
        Console.WriteLine($"idle server SSL after a TLS 1.3 handshake (RELEASE_BUFFERS), {count} held: malloc in use {(heap1 - heap0) / (double)count:F0} B each, " +
            $"RSS {(rss1 - rss0) / 1024.0 / count:F2} KiB each ({(rss2 - rss0) / 1024.0 / count:F2} after malloc_trim); live {live.Value}");
        foreach (var s in held)
            s.Dispose();
        Console.WriteLine($"after dispose: live {live.Value}, malloc in use {(MallocInUse() - heap0) / 1024.0:F0} KiB above the start");
    }

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    private static long MallocInUse()
    {
        var info = mallinfo2();
        return (long)(info.Uordblks + info.Hblkhd);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [LibraryImport("libc")] private static partial int clock_gettime(int clock, Timespec* time);
    [LibraryImport("libc")] private static partial MallInfo2 mallinfo2();
    [LibraryImport("libc")] private static partial int malloc_trim(nuint pad);
}
