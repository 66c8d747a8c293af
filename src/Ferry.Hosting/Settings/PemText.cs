using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Hosting.Settings;

/// <summary>What a PEM text holds, checked before a stage is built, so that a wrong file is named by its key or flag.</summary>
internal static class PemText
{
    /// <summary>Whether the text holds a private key (RSA or EC).</summary>
    public static bool IsPrivateKey(string pem)
    {
        foreach (var algorithm in new Func<AsymmetricAlgorithm>[] { RSA.Create, ECDsa.Create })
        {
            using var key = algorithm();
            try
            {
                key.ImportFromPem(pem);
                return true;
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException)
            {
            }
        }
        return false;
    }

    /// <summary>Whether the text holds at least one certificate (a CA bundle).</summary>
    public static bool HoldsCertificates(string pem)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException)
        {
            return false;
        }
        var any = certificates.Count > 0;
        foreach (var certificate in certificates)
            certificate.Dispose();
        return any;
    }
}
