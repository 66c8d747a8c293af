using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Stages;
using Ferry.Transport.Proxy;

/// <summary>
/// The <c>proxy</c> target: <c>ProxyHeaderParser</c> (PROXY protocol v1 and v2). The first input byte picks the
/// accepted versions (bits 0-1: v1, v2, any, any) and the cuts (bits 2-7: the largest read, 1 + 4·n bytes); the rest
/// is what a trusted proxy sent. It checks, beside "does not throw":
/// <list type="bullet">
/// <item>cut into reads (the frame reader's way, each read appended to what came before), the first verdict that is
/// not NeedMore is the verdict on the whole input: same status, header and length; a prefix of a header is never
/// refused, and a refused or finished prefix stays so whatever follows;</item>
/// <item>read exactly as <c>BytesWanted</c> asks (the TLS transports' way), the reader never wants more than
/// <c>MaxBytes</c> in all, never a byte past a header's end, and stops where the whole input's verdict says;</item>
/// <item>a header is accepted only if it is well formed (its length within the version's bounds, v1 printable ASCII
/// ending in its only CRLF, v2 version 2 with a length that covers it) and its addresses round-trip: written back as
/// v1 and as v2 and parsed again, they give the same header (and for v2 the same address bytes, for a v1 TCP4 line
/// the same text).</item>
/// </list>
/// </summary>
internal static class ProxyTarget
{
    private static readonly ProxyProtocol[] Modes = [ProxyProtocol.V1, ProxyProtocol.V2, ProxyProtocol.Any, ProxyProtocol.Any];

    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    public static void Run(byte[] data)
    {
        if (data.Length == 0)
            return;
        var mode = Modes[data[0] & 3];
        var maxRead = 1 + 4 * (data[0] >> 2);
        var input = data.AsSpan(1);

        var whole = Verdict.Of(input, mode);
        CheckWellFormed(input, mode, whole);
        CheckReads(input, mode, maxRead, whole);
        CheckExactReads(input, mode, maxRead, whole);
    }

    /// <summary>The frame reader's way: each read appended, the parser asked again, the first non-NeedMore verdict kept.</summary>
    private static void CheckReads(ReadOnlySpan<byte> input, ProxyProtocol mode, int maxRead, Verdict whole)
    {
        var seen = 0;
        for (var read = 0; seen < input.Length; read++)
        {
            seen += Math.Min(1 + (seen * 7 + read * 13) % maxRead, input.Length - seen);
            var verdict = Verdict.Of(input[..seen], mode);
            if (verdict.Status == ProxyParseStatus.NeedMore)
                continue;
            if (!verdict.SameAs(whole))
                throw new InvalidOperationException($"after {seen} of {input.Length} bytes: {verdict}; the whole input: {whole}");
            return;
        }
        if (whole.Status != ProxyParseStatus.NeedMore && input.Length > 0)
            throw new InvalidOperationException($"every read needed more, but the whole input is {whole}");
    }

    /// <summary>The TLS transports' way: read exactly what BytesWanted asks for, never a byte of what follows a header.</summary>
    private static void CheckExactReads(ReadOnlySpan<byte> input, ProxyProtocol mode, int maxRead, Verdict whole)
    {
        var n = 0;
        for (var read = 0; ; read++)
        {
            var wanted = ProxyHeaderParser.BytesWanted(input[..n], mode);
            if (wanted < 0)
                throw new InvalidOperationException($"BytesWanted is {wanted} after {n} bytes");
            if (n + wanted > ProxyHeaderParser.MaxBytes)
                throw new InvalidOperationException($"BytesWanted is {wanted} after {n} bytes, over MaxBytes ({ProxyHeaderParser.MaxBytes}) in all");
            if (wanted == 0)
                break;
            if (n == input.Length)
                return; // the peer stopped sending (the header timeout's case): nothing more to check
            // A reader may get fewer bytes than it asked for (a short read), never more.
            n += Math.Min(Math.Min(wanted, 1 + (n * 5 + read * 11) % maxRead), input.Length - n);
        }
        var verdict = Verdict.Of(input[..n], mode);
        if (verdict.Status == ProxyParseStatus.NeedMore)
            throw new InvalidOperationException($"BytesWanted is 0 after {n} bytes, but the parser needs more");
        if (!verdict.SameAs(whole))
            throw new InvalidOperationException($"read exactly: {verdict} after {n} bytes; the whole input: {whole}");
        if (verdict.Status == ProxyParseStatus.Done && n != verdict.Length)
            throw new InvalidOperationException($"read {n} bytes for a header of {verdict.Length}: past its end");
    }

    private static void CheckWellFormed(ReadOnlySpan<byte> input, ProxyProtocol mode, Verdict whole)
    {
        if (whole.Status == ProxyParseStatus.Invalid)
        {
            if (string.IsNullOrEmpty(whole.Error) || whole.Error.Length > 400 || whole.Error.Any(char.IsControl))
                throw new InvalidOperationException($"a refusal without a clear one-line error: '{whole.Error}'");
            return;
        }
        if (whole.Status == ProxyParseStatus.NeedMore)
        {
            if (input.Length >= ProxyHeaderParser.MaxBytes)
                throw new InvalidOperationException($"NeedMore after {input.Length} bytes, MaxBytes or more");
            return;
        }
        var header = whole.Header;
        var bytes = input[..whole.Length];
        if (whole.Length <= 0 || whole.Length > input.Length || whole.Length > ProxyHeaderParser.MaxBytes)
            throw new InvalidOperationException($"a header of {whole.Length} bytes in {input.Length}");
        if ((header.Source is null) != (header.Destination is null))
            throw new InvalidOperationException("a header with one address of two");
        if (header.Version == 1)
        {
            if (mode == ProxyProtocol.V2 || !bytes.StartsWith("PROXY "u8) || bytes.Length > ProxyHeaderParser.V1MaxBytes)
                throw new InvalidOperationException($"an accepted v1 header that is not one: {Show(bytes)}");
            if (bytes.IndexOf("\r\n"u8) != bytes.Length - 2 || bytes[..^2].IndexOfAnyExceptInRange((byte)0x20, (byte)0x7E) >= 0)
                throw new InvalidOperationException($"an accepted v1 header that is not printable ASCII ending in its one CRLF: {Show(bytes)}");
            var line = Encoding.ASCII.GetString(bytes[6..^2]);
            if (header.Source is null)
            {
                if (line != "UNKNOWN" && !line.StartsWith("UNKNOWN ", StringComparison.Ordinal))
                    throw new InvalidOperationException($"a v1 header without addresses that is not UNKNOWN: {line}");
            }
            else
            {
                var family = header.Source.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6";
                if (!line.StartsWith(family + " ", StringComparison.Ordinal) || header.Destination!.AddressFamily != header.Source.AddressFamily)
                    throw new InvalidOperationException($"a v1 {line} header gave {header.Source} and {header.Destination}");
                if (family == "TCP4" && V1(header) != Encoding.ASCII.GetString(bytes))
                    throw new InvalidOperationException($"a v1 TCP4 header does not read back as written: {Show(bytes)} gave {V1(header).TrimEnd()}");
            }
        }
        else if (header.Version == 2)
        {
            if (mode == ProxyProtocol.V1 || !bytes.StartsWith(Signature) || bytes.Length < ProxyHeaderParser.V2FixedBytes)
                throw new InvalidOperationException($"an accepted v2 header that is not one: {Show(bytes)}");
            if (bytes[12] >> 4 != 2 || (bytes[12] & 0x0F) > 1 || ProxyHeaderParser.V2FixedBytes + BinaryPrimitives.ReadUInt16BigEndian(bytes[14..]) != bytes.Length)
                throw new InvalidOperationException($"an accepted v2 header with a bad version, command or length: {Show(bytes)}");
            if (header.Source is not null)
            {
                // A proxied INET/INET6 STREAM header: its address block must be exactly what the addresses write back to.
                var written = V2(header);
                var addresses = written.AsSpan(ProxyHeaderParser.V2FixedBytes);
                if ((bytes[12] & 0x0F) != 1 || bytes[13] != written[13] || !bytes[ProxyHeaderParser.V2FixedBytes..].StartsWith(addresses))
                    throw new InvalidOperationException($"a v2 header's addresses do not write back as they came: {Show(bytes)} gave {header}");
            }
        }
        else
        {
            throw new InvalidOperationException($"a header of version {header.Version}");
        }

        // The addresses round-trip through both versions, whichever the header came in.
        if (header.Source is not null)
        {
            foreach (var (text, version) in new[] { (Encoding.ASCII.GetBytes(V1(header)), ProxyProtocol.V1), (V2(header), ProxyProtocol.V2) })
            {
                var again = Verdict.Of(text, version);
                if (again.Status != ProxyParseStatus.Done || again.Length != text.Length
                    || !Equals(again.Header.Source, header.Source) || !Equals(again.Header.Destination, header.Destination))
                    throw new InvalidOperationException($"{header} written as {version} ({Show(text)}) parses as {again}");
            }
        }
    }

    /// <summary>The v1 line for a header's addresses (the harness's own writer).</summary>
    public static string V1(ProxyHeader header) =>
        $"PROXY {(header.Source!.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6")} {header.Source.Address} {header.Destination!.Address} {header.Source.Port} {header.Destination.Port}\r\n";

    /// <summary>A v2 PROXY/STREAM header for a header's addresses, with optional TLVs (the harness's own writer).</summary>
    public static byte[] V2(ProxyHeader header, byte[]? tlvs = null) => V2(header.Source!, header.Destination!, tlvs);

    public static byte[] V2(IPEndPoint source, IPEndPoint destination, byte[]? tlvs = null)
    {
        var src = source.Address.GetAddressBytes();
        var dst = destination.Address.GetAddressBytes();
        var body = new byte[src.Length * 2 + 4 + (tlvs?.Length ?? 0)];
        src.CopyTo(body, 0);
        dst.CopyTo(body, src.Length);
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(src.Length * 2), (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(src.Length * 2 + 2), (ushort)destination.Port);
        tlvs?.CopyTo(body, src.Length * 2 + 4);
        return V2Raw(1, src.Length == 4 ? 0x11 : 0x21, body);
    }

    public static byte[] V2Raw(int command, int familyTransport, byte[] body)
    {
        var header = new byte[ProxyHeaderParser.V2FixedBytes + body.Length];
        Signature.CopyTo(header, 0);
        header[12] = (byte)(0x20 | command);
        header[13] = (byte)familyTransport;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)body.Length);
        body.CopyTo(header, ProxyHeaderParser.V2FixedBytes);
        return header;
    }

    private static string Show(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes[..Math.Min(bytes.Length, 64)]);

    private readonly record struct Verdict(ProxyParseStatus Status, ProxyHeader Header, int Length, string? Error)
    {
        public static Verdict Of(ReadOnlySpan<byte> input, ProxyProtocol mode)
        {
            var status = ProxyHeaderParser.Parse(input, mode, out var header, out var length, out var error);
            if (status is not (ProxyParseStatus.NeedMore or ProxyParseStatus.Done or ProxyParseStatus.Invalid))
                throw new InvalidOperationException($"unknown status {status}");
            if (status == ProxyParseStatus.Invalid && string.IsNullOrEmpty(error))
                throw new InvalidOperationException("Invalid without an error");
            return new Verdict(status, header, length, error);
        }

        /// <summary>The same outcome: status, and for a header its length and addresses (errors may word a prefix differently).</summary>
        public bool SameAs(Verdict other) =>
            Status == other.Status && (Status != ProxyParseStatus.Done
                || Length == other.Length && Header.Version == other.Header.Version
                   && Equals(Header.Source, other.Header.Source) && Equals(Header.Destination, other.Header.Destination));

        public override string ToString() => Status switch
        {
            ProxyParseStatus.Done => $"Done({Length} bytes, v{Header.Version}, {Header.Source?.ToString() ?? "-"} -> {Header.Destination?.ToString() ?? "-"})",
            ProxyParseStatus.Invalid => $"Invalid({Error})",
            _ => "NeedMore",
        };
    }
}
