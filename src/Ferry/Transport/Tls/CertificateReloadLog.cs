using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Ferry.Transport.Tls;

/// <summary>
/// What a stage says about its certificate files when they change: the new certificate in service, or why the
/// files cannot be used and which certificate stays (an operator who rotated a pair must learn that the stage
/// did not take it, not find out when the old one expires).
/// </summary>
/// <remarks>Event ids 1031 and 1032, in the stages' range (1001–1099) of <c>Stages/Internal/Log</c>.</remarks>
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
}
