using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Ferry.Transport.Tls;

/// <summary>
/// What a stage says about its certificate files when they change: the new certificate in service, or why the
/// files cannot be used and which certificate stays (an operator who rotated a pair must learn that the stage
/// did not take it, not find out when the old one expires); the same for its certificate revocation list, and that
/// list's passing its nextUpdate (from then on it refuses its issuer's client certificates).
/// </summary>
/// <remarks>Event ids 1031–1035 and 1037–1038, in the stages' range (1001–1099) of <c>Stages/Internal/Log</c>.</remarks>
internal sealed partial class CertificateReloadLog(ILogger logger, string stage)
{
    /// <summary>The files' new certificate is in service for new handshakes.</summary>
    public void Reloaded(string files, X509Certificate2 certificate)
        => LogReloaded(logger, stage, files, certificate.Subject, certificate.Thumbprint, certificate.NotAfter.ToUniversalTime());

    /// <summary>The files changed but cannot be used; <paramref name="inService"/> goes on serving.</summary>
    public void Kept(string files, string reason, X509Certificate2 inService)
        => LogKept(logger, stage, files, reason, inService.Subject, inService.Thumbprint, inService.NotAfter.ToUniversalTime());

    [LoggerMessage(1031, LogLevel.Information, "{Stage}: tls certificate reloaded from {Files}: {Subject} (SHA-1 {Thumbprint}), valid until {NotAfter:u}; new handshakes use it")]
    private static partial void LogReloaded(ILogger logger, string stage, string files, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(1032, LogLevel.Warning, "{Stage}: tls certificate files {Files} changed but cannot be used, so the certificate in service stays "
        + "({Subject}, SHA-1 {Thumbprint}, valid until {NotAfter:u}): {Reason}")]
    private static partial void LogKept(ILogger logger, string stage, string files, string reason, string subject, string thumbprint, DateTime notAfter);

    /// <summary>The list's file changed and the new list is in service for new handshakes.</summary>
    public void RevocationListReloaded(string source, string issuer, int revoked, DateTime? nextUpdate)
        => LogRevocationListReloaded(logger, stage, source, issuer, revoked, Next(nextUpdate));

    /// <summary>The list's file changed but cannot be used: the list in service stays.</summary>
    public void RevocationListKept(string source, string reason, string issuer, int revoked, DateTime? nextUpdate)
        => LogRevocationListKept(logger, stage, source, reason, issuer, revoked, Next(nextUpdate));

    /// <summary>The list in service is past its nextUpdate: its issuer's client certificates are refused until a newer one is in place.</summary>
    public void RevocationListExpired(string source, string issuer, DateTime nextUpdate, DateTime now)
        => LogRevocationListExpired(logger, stage, source, issuer, nextUpdate, now);

    /// <summary>
    /// The list in service begins after the stage clock (its thisUpdate): its issuer's client certificates are refused until
    /// the clock reaches it, or a valid list is in place.
    /// </summary>
    public void RevocationListNotYetValid(string source, string issuer, DateTime thisUpdate, DateTime now)
        => LogRevocationListNotYetValid(logger, stage, source, issuer, thisUpdate, now);

    /// <summary>The list in service that was not yet valid is now, by the stage clock: its issuer's client certificates are checked against it.</summary>
    public void RevocationListInForce(string source, string issuer, DateTime thisUpdate, int revoked)
        => LogRevocationListInForce(logger, stage, source, issuer, thisUpdate, revoked);

    [LoggerMessage(1037, LogLevel.Warning, "{Stage}: tls certificate revocation list {Source} (issuer {Issuer}) is not yet valid: it begins at "
        + "{ThisUpdate:u} (its thisUpdate), the stage clock says {Now:u} (a clock set wrong here or where the list was made, or a wrong file); "
        + "client certificates of {Issuer} are refused until then")]
    private static partial void LogRevocationListNotYetValid(ILogger logger, string stage, string source, string issuer, DateTime thisUpdate, DateTime now);

    [LoggerMessage(1038, LogLevel.Information, "{Stage}: tls certificate revocation list {Source} (issuer {Issuer}) is valid from now on (its thisUpdate "
        + "{ThisUpdate:u} reached by the stage clock): {Revoked} revoked; client certificates of {Issuer} are checked against it")]
    private static partial void LogRevocationListInForce(ILogger logger, string stage, string source, string issuer, DateTime thisUpdate, int revoked);

    private static string Next(DateTime? nextUpdate) => nextUpdate is { } next ? next.ToString("u", System.Globalization.CultureInfo.InvariantCulture) : "none";

    [LoggerMessage(1033, LogLevel.Information, "{Stage}: tls certificate revocation list reloaded from {Source}: issuer {Issuer}, {Revoked} revoked, "
        + "next update {NextUpdate}; new handshakes use it")]
    private static partial void LogRevocationListReloaded(ILogger logger, string stage, string source, string issuer, int revoked, string nextUpdate);

    [LoggerMessage(1034, LogLevel.Warning, "{Stage}: tls certificate revocation list {Source} changed but cannot be used, so the list in service stays "
        + "(issuer {Issuer}, {Revoked} revoked, next update {NextUpdate}): {Reason}")]
    private static partial void LogRevocationListKept(ILogger logger, string stage, string source, string reason, string issuer, int revoked, string nextUpdate);

    [LoggerMessage(1035, LogLevel.Warning, "{Stage}: tls certificate revocation list {Source} (issuer {Issuer}) has expired: its next update was "
        + "{NextUpdate:u}, the stage clock says {Now:u}; client certificates of {Issuer} are refused until a newer list is in place")]
    private static partial void LogRevocationListExpired(ILogger logger, string stage, string source, string issuer, DateTime nextUpdate, DateTime now);
}
