using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Tests.Support;

/// <summary>A TLS client over loopback (.NET's SslStream) that trusts the test CA, with bounded waits.</summary>
public sealed class TlsTestClient : IAsyncDisposable
{
    private readonly Socket _socket;

    private TlsTestClient(Socket socket, SslStream stream)
    {
        _socket = socket;
        Stream = stream;
    }

    public SslStream Stream { get; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Connects and runs the handshake; throws when the handshake fails.</summary>
    public static async Task<TlsTestClient> ConnectAsync(IPEndPoint server, SslProtocols protocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        X509Certificate2? clientCertificate = null, string serverName = "localhost", byte[]? preface = null)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(server, cts.Token);
        // Bytes in the clear ahead of the handshake, as a proxy's PROXY header.
        if (preface is not null)
            await socket.SendAsync(preface, SocketFlags.None, cts.Token);
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
        var client = new TlsTestClient(socket, stream);
        try
        {
            await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                EnabledSslProtocols = protocols,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                RemoteCertificateValidationCallback = (_, certificate, _, errors) => TrustedByTestAuthority(certificate, errors),
            }, cts.Token);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
        return client;
    }

    private static bool TrustedByTestAuthority(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(TestCertificates.Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    public async Task SendAsync(byte[] data)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Stream.WriteAsync(data, cts.Token);
        await Stream.FlushAsync(cts.Token);
    }

    public async Task<byte[]> ReceiveExactlyAsync(int count)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Stream.ReadExactlyAsync(buffer, cts.Token);
        return buffer;
    }

    /// <summary>True when the server ends the connection (close, reset or a TLS alert) within the timeout.</summary>
    public async Task<bool> WaitClosedAsync()
    {
        var buffer = new byte[256];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (await Stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or SocketException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _socket.Dispose();
    }
}
