namespace Ferry.Transport.Tls;

/// <summary>
/// Reads a certificate, key, CA bundle, PKCS#12 or CRL file: a regular file of at most <see cref="MaxBytes"/>. A wrong
/// path must cost a clear error, never the process: read whole, <c>/dev/zero</c> or a multi-GiB file ran the process out
/// of memory. A pipe (<c>--tls-cert &lt;(…)</c>) is refused too, as it can be read only once: the stage reads these files
/// again when it is built and then once a second to notice a renewal.
/// </summary>
internal static class TlsFile
{
    /// <summary>16 MiB: a certificate chain or key is a few KiB, a CA bundle a few hundred, a large CA's CRL some MiB.</summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    /// <summary>The file's bytes.</summary>
    /// <exception cref="IOException">It cannot be read, is not a regular file, or is larger than <see cref="MaxBytes"/> (the message says which).</exception>
    /// <exception cref="UnauthorizedAccessException">No permission, or it is a directory.</exception>
    public static byte[] ReadBytes(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        if (!stream.CanSeek)
            throw new IOException("it is not a regular file (a pipe or a device): a TLS file is read again when the stage is built and to notice a renewal, so it must be a file");
        if (stream.Length > MaxBytes)
            throw new IOException(TooLarge);
        // The length may be 0 for a device that still reads (/dev/zero): the bound is on what is read, not on what it says.
        var bytes = new byte[Math.Min(stream.Length, MaxBytes) + 1];
        var length = 0;
        int read;
        while ((read = stream.Read(bytes, length, bytes.Length - length)) > 0)
        {
            length += read;
            if (length == bytes.Length)
            {
                if (length > MaxBytes)
                    throw new IOException(TooLarge);
                Array.Resize(ref bytes, Math.Min(bytes.Length * 2, MaxBytes + 1));
            }
        }
        return bytes.AsSpan(0, length).ToArray();
    }

    /// <summary>The file's text (PEM), decoded as <see cref="File.ReadAllText(string)"/> does.</summary>
    /// <exception cref="IOException">As <see cref="ReadBytes"/>.</exception>
    /// <exception cref="UnauthorizedAccessException">As <see cref="ReadBytes"/>.</exception>
    public static string ReadText(string path)
    {
        using var reader = new StreamReader(new MemoryStream(ReadBytes(path)), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private static string TooLarge => $"it is larger than {MaxBytes} bytes (16 MiB), the limit for a TLS file";
}
