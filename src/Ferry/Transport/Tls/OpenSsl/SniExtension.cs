using System.Buffers.Binary;
using System.Text;

namespace Ferry.Transport.Tls.OpenSsl;

/// <summary>
/// Reads the host name out of a client hello's server_name extension (RFC 6066, section 3): a list, of two-byte length,
/// of entries each a type byte (0 = host_name) and a name of two-byte length. Read by the stage itself only where OpenSSL
/// gives no answer of the hello's own (see <see cref="OpenSslServerTls"/>); OpenSSL checks the extension's form itself.
/// </summary>
internal static class SniExtension
{
    private const byte HostNameType = 0;

    /// <summary>The first host name in <paramref name="extension"/>, or null when there is none or the extension is malformed (OpenSSL refuses that one).</summary>
    public static string? HostName(ReadOnlySpan<byte> extension)
    {
        if (extension.Length < 2)
            return null;
        var list = extension[2..];
        if (BinaryPrimitives.ReadUInt16BigEndian(extension) != list.Length)
            return null;
        while (list.Length >= 3)
        {
            var type = list[0];
            var length = BinaryPrimitives.ReadUInt16BigEndian(list[1..]);
            if (list.Length < 3 + length)
                return null;
            if (type == HostNameType)
                return Encoding.UTF8.GetString(list.Slice(3, length));
            list = list[(3 + length)..];
        }
        return null;
    }
}
