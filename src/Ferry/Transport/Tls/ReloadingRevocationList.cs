using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Stages;

namespace Ferry.Transport.Tls;

/// <summary>
/// The stage's certificate revocation list, following its file as <see cref="ReloadingCertificate"/> follows the
/// certificate's: at most once a second (stage clock) a handshake looks at the file's contents (through links) and reads it
/// again when they changed, so a CA that publishes a new list (a newly revoked client, a fresh nextUpdate) is obeyed
/// without a restart. A new list that cannot be used (truncated, not signed by the bundle's CA, unreadable) keeps the old
/// one in service and says so once per change of the file. A list past its nextUpdate by the stage clock is told once
/// (a warning naming the file and its nextUpdate) and, while it stays in service, refuses its issuer's client
/// certificates (<see cref="PeerCertificateCheck"/>): OpenSSL's and nginx's "CRL has expired", failing closed.
/// </summary>
/// <remarks>
/// A list whose thisUpdate is after the stage clock (a clock set wrong here or where the list was made, or a wrong file) is
/// OpenSSL's "CRL is not yet valid", and was believed as if current. Now: a new file holding one is not taken (the list in
/// service stays, with the "cannot be used" warning) until the stage clock reaches its thisUpdate, when it is taken if the
/// file still holds it; a first list (at the start) that is not yet valid is told at once (a warning) and, being the only
/// list, refuses its issuer's client certificates as an expired one does, until the stage clock reaches its thisUpdate
/// (told again, as information): no restart is needed either way.
/// </remarks>
internal sealed class ReloadingRevocationList
{
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(1);

    private readonly string? _file;
    private readonly X509Certificate2Collection? _cas;
    private readonly TimeProvider _time;
    private readonly CertificateReloadLog? _log;
    private readonly Lock _lock = new();
    private volatile RevocationList _current;
    private string _stamp;
    private string? _refusedStamp;
    private long _nextCheck;

    /// <summary>The list in service has been told to be past its nextUpdate (reset when another list is taken).</summary>
    private int _expiryTold;

    /// <summary>The list in service has been told to be not yet valid (<see cref="Early"/>), then valid (<see cref="InForce"/>).</summary>
    private int _earlyTold;
    private const int Early = 1;
    private const int InForce = 2;

    /// <summary>The file's list, kept out for being not yet valid: taken once the stage clock reaches its thisUpdate, if the file still holds it.</summary>
    private RevocationList? _notYetValid;

    private ReloadingRevocationList(RevocationList first, string? file, X509Certificate2Collection? cas, TimeProvider time, CertificateReloadLog? log)
    {
        _current = first;
        _file = file;
        _cas = cas;
        _time = time;
        _log = log;
        _stamp = file is null ? "" : Stamp(file);
        _nextCheck = time.GetTimestamp() + Ticks(CheckEvery);
    }

    /// <summary>The stage's list from the options' PEM text or file, null when neither is given.</summary>
    /// <exception cref="TlsMaterialException">The list cannot be read, parsed, or is not signed by a CA of <paramref name="cas"/>.</exception>
    public static ReloadingRevocationList? Load(TlsOptions options, X509Certificate2Collection? cas, TimeProvider time, CertificateReloadLog? log)
    {
        var first = RevocationList.Load(options.CertificateRevocationListPem, options.CertificateRevocationListFile, cas);
        if (first is null)
            return null;
        // Inline PEM text never changes: only a file is looked at again.
        var list = new ReloadingRevocationList(first, options.CertificateRevocationListPem is null ? options.CertificateRevocationListFile : null, cas, time, log);
        // Told at the start too, not only at the first client it refuses.
        var now = time.GetUtcNow().UtcDateTime;
        if (first.NotYetValidAt(now))
            list.TellNotYetValid(first, now);
        else if (first.ExpiredAt(now))
            list.TellExpired(first, now);
        return list;
    }

    /// <summary>Where the list comes from, for the words of a refusal and the log: the file, or the options' PEM text.</summary>
    public string Source => _file is null ? "given as PEM text" : $"'{_file}'";

    /// <summary>The list in service now (read again first when its file changed).</summary>
    public RevocationList Current
    {
        get
        {
            if (_file is not null && _time.GetTimestamp() >= Volatile.Read(ref _nextCheck))
                Check(_file);
            return _current;
        }
    }

    /// <summary>
    /// Says once per list that <paramref name="list"/> is past its nextUpdate at <paramref name="utcNow"/> (the check calls this
    /// at each refusal it causes; only the first is logged, and a newly taken list may be told again).
    /// </summary>
    public void TellExpired(RevocationList list, DateTime utcNow)
    {
        if (ReferenceEquals(list, _current) && Interlocked.Exchange(ref _expiryTold, 1) == 0)
            _log?.RevocationListExpired(Source, list.Issuer.Name, list.NextUpdate!.Value, utcNow);
    }

    /// <summary>
    /// Says once per list that <paramref name="list"/> begins after <paramref name="utcNow"/> (its thisUpdate): at the start, and
    /// at each refusal it causes (only the first is logged).
    /// </summary>
    public void TellNotYetValid(RevocationList list, DateTime utcNow)
    {
        if (ReferenceEquals(list, _current) && Interlocked.CompareExchange(ref _earlyTold, Early, 0) == 0)
            _log?.RevocationListNotYetValid(Source, list.Issuer.Name, list.ThisUpdate, utcNow);
    }

    /// <summary>
    /// <paramref name="list"/> spoke for a certificate: when it had been told to be not yet valid, says once that it is valid
    /// now (the stage clock reached its thisUpdate). One read on the common path.
    /// </summary>
    public void TellValid(RevocationList list)
    {
        if (Volatile.Read(ref _earlyTold) == Early && ReferenceEquals(list, _current) && Interlocked.CompareExchange(ref _earlyTold, InForce, Early) == Early)
            _log?.RevocationListInForce(Source, list.Issuer.Name, list.ThisUpdate, list.Count);
    }

    private void Check(string file)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (now < _nextCheck)
                return;
            _nextCheck = now + Ticks(CheckEvery);
            var stamp = Stamp(file);
            if (stamp == _stamp)
                return;
            var utcNow = _time.GetUtcNow().UtcDateTime;
            if (stamp == _refusedStamp)
            {
                // Kept out only for beginning later: its time has come.
                if (_notYetValid is { } waited && !waited.NotYetValidAt(utcNow))
                    Take(waited, stamp);
                return;
            }
            _notYetValid = null;
            try
            {
                var list = RevocationList.Load(null, file, _cas)!;
                if (list.NotYetValidAt(utcNow))
                {
                    // Believed now, it would speak for certificates before its time (and keep a wrong file in service for good).
                    _refusedStamp = stamp;
                    _notYetValid = list;
                    _log?.RevocationListKept(Source, $"it is not yet valid: it begins at {Utc(list.ThisUpdate)} (its thisUpdate), the stage clock says "
                        + $"{Utc(utcNow)} (a clock set wrong here or where the list was made, or a wrong file); it is taken when the stage clock "
                        + "reaches its thisUpdate, if the file still holds it", _current.Issuer.Name, _current.Count, _current.NextUpdate);
                    return;
                }
                Take(list, stamp);
            }
            catch (Exception ex) when (ex is TlsMaterialException or CryptographicException or IOException or UnauthorizedAccessException)
            {
                // Being rewritten, or broken: the old list stays. This runs inside a handshake (on epoll, on the stage's
                // service thread): nothing the file holds may fail more than that.
                _refusedStamp = stamp;
                _log?.RevocationListKept(Source, ex.Message, _current.Issuer.Name, _current.Count, _current.NextUpdate);
            }
        }
    }

    /// <summary>Puts <paramref name="list"/> (read from the file when it held <paramref name="stamp"/>) in service. Under the lock.</summary>
    private void Take(RevocationList list, string stamp)
    {
        _current = list;
        _stamp = stamp;
        _refusedStamp = null;
        _notYetValid = null;
        Volatile.Write(ref _expiryTold, 0);
        Volatile.Write(ref _earlyTold, 0);
        _log?.RevocationListReloaded(Source, list.Issuer.Name, list.Count, list.NextUpdate);
    }

    private static string Utc(DateTime time) => time.ToString("u", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A digest of what the path reads as now, through links (see <see cref="ReloadingCertificate"/>).</summary>
    private static string Stamp(string path)
    {
        try
        {
            return Convert.ToHexString(SHA256.HashData(TlsFile.ReadBytes(path)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "unreadable";
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);
}
