using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;

namespace Ferry.Transport.Tls;

/// <summary>
/// A stage's certificate (a server's, or the one a client stage presents) that follows its files: at most once
/// a second (stage clock), a handshake looks at the files' contents and loads them again when they changed, so an operator
/// who rotates the files gets new connections on the new certificate while established ones keep
/// theirs. A half-written or broken pair (a certificate written before its key, a truncated file, a key
/// that does not match) keeps the old certificate in service until a good one appears, and says so once
/// per change of the files (<see cref="CertificateReloadLog"/>); a reload that worked is told too.
/// PEM or PKCS#12 text given inline never changes and is loaded once.
/// </summary>
internal sealed class ReloadingCertificate
{
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(1);

    private readonly TlsCertificate _source;
    private readonly string _key;
    private readonly TimeProvider _time;
    private readonly CertificateReloadLog? _log;
    private readonly string[] _files;
    private readonly Func<X509Certificate2, string?>? _refuse;
    private readonly Lock _lock = new();
    private volatile SslStreamCertificateContext _current;
    private string _stamp;

    /// <summary>The stamp of files already found unusable (told once, not at every check until they change).</summary>
    private string? _refusedStamp;

    private long _nextCheck;

    /// <param name="source">The certificate's PEM text or files.</param>
    /// <param name="time">The stage's clock: the files are looked at again at most once a second on it.</param>
    /// <param name="log">Where a reload, or a change kept out, is told; null for none.</param>
    /// <param name="key">The option the certificate was given at, for its problems (<see cref="TlsMaterial.SniKey"/> for an SNI certificate).</param>
    /// <param name="refuse">
    /// A further check of a loaded certificate (a server's <c>server_name</c> it must carry): the problem, or null. A problem
    /// at the start is thrown as the stage's options error; after a reload it keeps the certificate in service, as a broken pair does.
    /// </param>
    public ReloadingCertificate(TlsCertificate source, TimeProvider time, CertificateReloadLog? log = null, string key = TlsMaterial.CertificateKey,
        Func<X509Certificate2, string?>? refuse = null)
    {
        _refuse = refuse;
        _source = source;
        _key = key;
        _time = time;
        _log = log;
        _files = new[] { source.CertificateFile, source.PrivateKeyFile, source.Pkcs12File }.OfType<string>().ToArray();
        _stamp = Stamp();
        _current = Load(source, key, refuse);
        _nextCheck = _time.GetTimestamp() + Ticks(CheckEvery);
    }

    /// <summary>The certificate to offer now (reloaded first when its files changed).</summary>
    public SslStreamCertificateContext Current
    {
        get
        {
            if (_files.Length > 0 && _time.GetTimestamp() >= Volatile.Read(ref _nextCheck))
                Check();
            return _current;
        }
    }

    private void Check()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (now < _nextCheck)
                return;
            _nextCheck = now + Ticks(CheckEvery);
            var stamp = Stamp();
            if (stamp == _stamp || stamp == _refusedStamp)
                return;
            try
            {
                _current = Load(_source, _key, _refuse);
                _stamp = stamp;
                _refusedStamp = null;
                _log?.Reloaded(Files, _current.TargetCertificate);
            }
            catch (Exception ex) when (ex is TlsMaterialException or CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                // Mid-rotation (one file written, not the other) or broken: keep serving the old one. This runs inside a
                // handshake (on epoll, on the stage's service thread): nothing the files hold may fail more than that.
                _refusedStamp = stamp;
                _log?.Kept(Files, ex.Message, _current.TargetCertificate);
            }
        }
    }

    /// <summary>The files it follows, for the log ("the PEM text" when it was given inline).</summary>
    public string Files => _files.Length == 0 ? "the PEM text" : string.Join(", ", _files.Select(f => $"'{f}'"));

    /// <summary>The option the certificate was given at (<see cref="TlsMaterial.CertificateKey"/> or an SNI certificate's key).</summary>
    public string Key => _key;

    private string Stamp() => string.Join("|", _files.Select(StampOf));

    /// <summary>
    /// A digest of what the path reads as now (through any symbolic links). Not its write time and size: those of a
    /// link are the link's own (a Kubernetes secret volume rotates by re-pointing a directory link, <c>tls.crt ->
    /// ..data/tls.crt</c>, and the links named in the options never change), and a new file of the same length written
    /// within the file system's timestamp granularity (or copied with its time kept) would look unchanged. The files
    /// are a few KiB, read at most once a second.
    /// </summary>
    private static string StampOf(string path)
    {
        try
        {
            return Convert.ToHexString(SHA256.HashData(TlsFile.ReadBytes(path)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "unreadable"; // missing, a link loop, no permission: the load says what is wrong
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private static SslStreamCertificateContext Load(TlsCertificate source, string key, Func<X509Certificate2, string?>? refuse)
    {
        var (certificate, chain) = TlsMaterial.LoadCertificate(source, key);
        if (refuse?.Invoke(certificate) is { } problem)
        {
            certificate.Dispose();
            ChainCertificates.Release(chain);
            throw new TlsMaterialException(problem);
        }
        return SslStreamCertificateContext.Create(certificate, chain, offline: true);
    }
}
