using System.Buffers.Binary;
using System.Net;
using CsCheck;
using Ferry.Stages;
using Ferry.Transport.Proxy;

namespace Ferry.Tests.Transport;

/// <summary>The PROXY protocol parser: v1 and v2 headers whole, byte by byte, and malformed.</summary>
public sealed class ProxyHeaderParserTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>A v2 header as HAProxy writes it: signature, version 2, command, family/transport, length, body.</summary>
    internal static byte[] V2(int command, int familyTransport, byte[] body, int version = 2, int? claimed = null)
    {
        var header = new byte[16 + body.Length];
        Signature.CopyTo(header, 0);
        header[12] = (byte)(version << 4 | command);
        header[13] = (byte)familyTransport;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)(claimed ?? body.Length));
        body.CopyTo(header, 16);
        return header;
    }

    internal static byte[] V2Inet(string source, int sourcePort, string destination, int destinationPort, byte[]? tlvs = null)
    {
        var src = IPAddress.Parse(source).GetAddressBytes();
        var dst = IPAddress.Parse(destination).GetAddressBytes();
        var body = new byte[src.Length * 2 + 4 + (tlvs?.Length ?? 0)];
        src.CopyTo(body, 0);
        dst.CopyTo(body, src.Length);
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(src.Length * 2), (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(src.Length * 2 + 2), (ushort)destinationPort);
        tlvs?.CopyTo(body, src.Length * 2 + 4);
        return V2(1, src.Length == 4 ? 0x11 : 0x21, body);
    }

    private static byte[] Ascii(string text) => System.Text.Encoding.ASCII.GetBytes(text);

    private static ProxyHeader ParseWhole(byte[] input, ProxyProtocol mode = ProxyProtocol.Any, int trailing = 0)
    {
        var status = ProxyHeaderParser.Parse(input, mode, out var header, out var length, out var error);
        Assert.True(status == ProxyParseStatus.Done, error);
        Assert.Equal(input.Length - trailing, length);
        return header;
    }

    private static string Refused(byte[] input, ProxyProtocol mode = ProxyProtocol.Any)
    {
        var status = ProxyHeaderParser.Parse(input, mode, out _, out _, out var error);
        Assert.Equal(ProxyParseStatus.Invalid, status);
        Assert.False(string.IsNullOrEmpty(error));
        return error!;
    }

    [Fact]
    public void A_v1_tcp4_header_names_the_client_and_leaves_what_follows()
    {
        var input = Ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\nhello");
        var header = ParseWhole(input, trailing: 5);
        Assert.Equal(1, header.Version);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 56324), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 443), header.Destination);
    }

    [Fact]
    public void A_v1_tcp6_header_and_an_unknown_one()
    {
        var header = ParseWhole(Ascii("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 65535), header.Source);
        var unknown = ParseWhole(Ascii("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n"));
        Assert.Null(unknown.Source);
        Assert.Null(ParseWhole(Ascii("PROXY UNKNOWN\r\n")).Source);
    }

    [Theory]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "byte 0x0A")]
    [InlineData("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "protocol 'TCP5'; allowed: TCP4, TCP6, UNKNOWN")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "single spaces")]
    [InlineData("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "single spaces")]
    [InlineData("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "not IPv4")]
    [InlineData("PROXY TCP4 1 5.6.7.8 1 2\r\n", "not IPv4")]
    [InlineData("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "not IPv4")]
    [InlineData("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "not IPv6")]
    [InlineData("PROXY TCP6 fe80::1%2 ::1 1 2\r\n", "not IPv6")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "port")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "port")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "single spaces")]
    [InlineData("GET / HTTP/1.1\r\n", "expected a PROXY protocol v1 or v2 header, got 'GET / HTTP/1.1\\x0D\\x0A'")]
    [InlineData("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "expected a PROXY protocol")]
    public void Malformed_v1_headers_are_refused_with_what_is_wrong(string text, string expected) =>
        Assert.Contains(expected, Refused(Ascii(text)));

    /// <summary>
    /// Found by the fuzz target <c>proxy</c>: a control byte (or a lone LF, or a byte above 0x7E) before the CRLF was
    /// refused when the line had not ended yet but accepted once the CRLF had come in the same read, so the verdict
    /// depended on how the proxy's bytes were cut. It is refused either way, as the parser's contract says.
    /// </summary>
    [Theory]
    [InlineData("PROXY UNKNOWN \u0001\r\n", "byte 0x01 at offset 14")]
    [InlineData("PROXY UNKNOWN x\ny\r\n", "byte 0x0A at offset 15")]
    [InlineData("PROXY UNKNOWN \u007F\r\n", "byte 0x7F at offset 14")]
    [InlineData("PROXY UNKNOWN\u0000\r\n", "byte 0x00 at offset 13")]
    public void A_byte_that_is_not_printable_ascii_is_refused_whether_or_not_the_crlf_came_with_it(string text, string expected)
    {
        var input = Ascii(text);
        Assert.Contains(expected, Refused(input));
        for (var n = 1; n < input.Length; n++)
        {
            var status = ProxyHeaderParser.Parse(input.AsSpan(0, n), ProxyProtocol.Any, out _, out _, out _);
            Assert.NotEqual(ProxyParseStatus.Done, status);
        }
    }

    [Fact]
    public void A_byte_above_0x7E_is_refused_before_and_after_the_crlf() =>
        Assert.Contains("byte 0xE9 at offset 14", Refused([.. Ascii("PROXY UNKNOWN "), 0xE9, .. Ascii("\r\n")]));

    [Theory]
    [InlineData("PROXY TCP4 010.000.000.001 1.2.3.4 1 2\r\n")] // inet_aton would read 8.0.0.1
    [InlineData("PROXY TCP4 10.0.0.1 01.2.3.4 1 2\r\n")]
    [InlineData("PROXY TCP4 10.0.0.256 1.2.3.4 1 2\r\n")]
    [InlineData("PROXY TCP4 10.0.0.0001 1.2.3.4 1 2\r\n")]
    [InlineData("PROXY TCP4 10..0.1 1.2.3.4 1 2\r\n")]
    [InlineData("PROXY TCP6 ::ffff:010.0.0.1 ::1 1 2\r\n")]
    public void Addresses_that_are_not_canonical_decimal_are_refused_not_read_as_octal(string text) =>
        Assert.Contains("has an address that is not", Refused(Ascii(text)));

    [Theory]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 00080 2\r\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n")]
    public void Ports_with_leading_zeros_are_refused_as_the_specification_says(string text) =>
        Assert.Contains("port", Refused(Ascii(text)));

    [Fact]
    public void Zeros_where_they_are_the_whole_number_are_canonical()
    {
        var header = ParseWhole(Ascii("PROXY TCP4 10.0.0.1 0.0.0.0 0 443\r\n"));
        Assert.Equal(IPEndPoint.Parse("10.0.0.1:0"), header.Source);
        Assert.Equal(IPEndPoint.Parse("0.0.0.0:443"), header.Destination);
        Assert.Equal(IPEndPoint.Parse("[::ffff:10.0.0.1]:1"), ParseWhole(Ascii("PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n")).Source);
    }

    [Theory]
    [InlineData("P", true)]
    [InlineData("PROXY", true)]
    [InlineData("\r\n\r\n", true)]
    [InlineData("PROXY ", false)] // a whole signature: StartsWithSignature decides
    [InlineData("PRX", false)]
    [InlineData("\r\n\r\n\r", false)]
    [InlineData("hello", false)]
    public void The_beginning_of_a_signature_is_told_from_other_bytes(string text, bool undecided) =>
        Assert.Equal(undecided, ProxyHeaderParser.MayBeginSignature(Ascii(text)));

    [Fact]
    public void A_v1_line_without_crlf_within_107_bytes_is_refused_at_107()
    {
        var line = "PROXY UNKNOWN " + new string('x', 120);
        Assert.Equal(ProxyParseStatus.NeedMore, ProxyHeaderParser.Parse(Ascii(line)[..106], ProxyProtocol.Any, out _, out _, out _));
        Assert.Contains("no CRLF within 107 bytes", Refused(Ascii(line)[..107]));
        // The longest legal line (107 bytes with CRLF) is fine.
        var longest = "PROXY UNKNOWN " + new string('x', 107 - 16) + "\r\n";
        Assert.Equal(107, longest.Length);
        ParseWhole(Ascii(longest));
    }

    [Fact]
    public void A_v2_tcp4_header_with_tlvs_skips_them()
    {
        byte[] tlvs = [0x01, 0x00, 0x02, (byte)'h', (byte)'2', 0x04, 0x00, 0x00, 0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0];
        var input = V2Inet("203.0.113.7", 40000, "10.0.0.1", 9000, tlvs).Concat(Ascii("data")).ToArray();
        var header = ParseWhole(input, trailing: 4);
        Assert.Equal(2, header.Version);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 40000), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 9000), header.Destination);
    }

    [Fact]
    public void A_v2_tcp6_header_and_a_local_one()
    {
        var header = ParseWhole(V2Inet("2001:db8::7", 1234, "2001:db8::1", 443));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 1234), header.Source);
        // LOCAL: the proxy's own health check; any addresses it carries are ignored.
        Assert.Null(ParseWhole(V2(0, 0x00, [])).Source);
        Assert.Null(ParseWhole(V2(0, 0x11, new byte[12])).Source);
        // UNSPEC family with PROXY: the connection's own endpoints stand.
        Assert.Null(ParseWhole(V2(1, 0x00, [])).Source);
    }

    [Fact]
    public void Malformed_v2_headers_are_refused_with_what_is_wrong()
    {
        Assert.Contains("version 3", Refused(V2(1, 0x11, new byte[12], version: 3)));
        Assert.Contains("version 1", Refused(V2(1, 0x11, new byte[12], version: 1)[..13]));
        Assert.Contains("command 2", Refused(V2(2, 0x11, new byte[12])));
        Assert.Contains("address family 4", Refused(V2(1, 0x41, new byte[12])));
        Assert.Contains("too few for its INET addresses (12)", Refused(V2(1, 0x11, new byte[8])));
        Assert.Contains("too few for its INET6 addresses (36)", Refused(V2(1, 0x21, new byte[12])));
        Assert.Contains("at most 4096", Refused(V2(1, 0x11, new byte[12], claimed: 5000)[..16]));
        Assert.Contains("DGRAM", Refused(V2(1, 0x12, new byte[12])));
        Assert.Contains("UNIX", Refused(V2(1, 0x31, new byte[216])));
        // A TLV that claims more than is left, and stray bytes too short for a TLV.
        Assert.Contains("claims 9 bytes but only 1 are left", Refused(V2Inet("1.2.3.4", 1, "5.6.7.8", 2, [0x01, 0x00, 0x09, 0xAA])));
        Assert.Contains("2 stray bytes", Refused(V2Inet("1.2.3.4", 1, "5.6.7.8", 2, [0x01, 0x00])));
    }

    [Fact]
    public void A_version_that_is_not_configured_is_refused_as_soon_as_its_signature_shows()
    {
        Assert.Contains("only v2 is accepted", Refused(Ascii("PROXY "), ProxyProtocol.V2));
        Assert.Contains("only v1 is accepted", Refused(Signature, ProxyProtocol.V1));
        Assert.Contains("expected a PROXY protocol v2 header", Refused(Ascii("HELLO"), ProxyProtocol.V2));
    }

    private static readonly string[] Headers =
    [
        "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n",
        "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n",
        "PROXY UNKNOWN\r\n",
        "v2:" + Convert.ToHexString(V2Inet("203.0.113.7", 40000, "10.0.0.1", 9000, [0x02, 0x00, 0x01, 0x61])),
        "v2:" + Convert.ToHexString(V2Inet("2001:db8::7", 1234, "2001:db8::1", 443)),
        "v2:" + Convert.ToHexString(V2(0, 0x00, [])),
    ];

    public static TheoryData<string> WholeHeaders => [.. Headers];

    private static byte[] Bytes(string spec) => spec.StartsWith("v2:") ? Convert.FromHexString(spec[3..]) : Ascii(spec);

    [Theory]
    [MemberData(nameof(WholeHeaders))]
    public void Every_prefix_of_a_header_needs_more_and_the_whole_is_done(string spec)
    {
        var whole = Bytes(spec);
        for (var n = 0; n < whole.Length; n++)
            Assert.Equal(ProxyParseStatus.NeedMore, ProxyHeaderParser.Parse(whole.AsSpan(0, n), ProxyProtocol.Any, out _, out _, out _));
        ParseWhole(whole);
    }

    [Theory]
    [MemberData(nameof(WholeHeaders))]
    public void Reading_exactly_what_is_wanted_stops_at_the_end_of_the_header(string spec)
    {
        // As the TLS path reads: never a byte of the client hello behind the header.
        var stream = Bytes(spec).Concat(new byte[] { 0x16, 0x03, 0x01 }).ToArray();
        var n = 0;
        int wanted;
        while ((wanted = ProxyHeaderParser.BytesWanted(stream.AsSpan(0, n), ProxyProtocol.Any)) > 0)
        {
            n += wanted;
            Assert.True(n <= stream.Length - 3, $"read {n} bytes, past the header's {stream.Length - 3}");
        }
        Assert.Equal(stream.Length - 3, n);
    }

    [Fact]
    public void Signatures_are_recognised_only_whole()
    {
        Assert.True(ProxyHeaderParser.StartsWithSignature(Ascii("PROXY TCP4")));
        Assert.True(ProxyHeaderParser.StartsWithSignature(Signature));
        Assert.False(ProxyHeaderParser.StartsWithSignature(Ascii("PROXY")));
        Assert.False(ProxyHeaderParser.StartsWithSignature(Signature.AsSpan(0, 11)));
        Assert.False(ProxyHeaderParser.StartsWithSignature(Ascii("\r\n\r\nhello")));
    }

    // ---- property tests: nothing malformed makes it throw, loop or read past its bounds ----

    private static readonly Gen<byte[]> HostileInput = Gen.OneOf(
        Gen.Byte.Array[0, 200],
        // A real header with bytes flipped, cut or appended.
        Gen.Select(Gen.Int[0, 5], Gen.Int[0, 120], Gen.Byte, Gen.Bool, (which, at, value, cut) =>
        {
            var whole = Bytes(Headers[which]);
            if (cut)
                return whole[..Math.Min(at, whole.Length)];
            var copy = (byte[])whole.Clone();
            copy[at % copy.Length] = value;
            return copy;
        }),
        // A v2 signature with a random rest (lengths and families of every kind).
        Gen.Byte.Array[0, 80].Select(rest => Signature.Concat(rest).ToArray()),
        // "PROXY " with random printable text.
        Gen.Char['0', 'Z'].Array[0, 120].Select(rest => Ascii("PROXY " + new string(rest))));

    [Fact]
    public void Hostile_input_is_always_classified_within_bounds()
    {
        HostileInput.Sample(input =>
        {
            foreach (var mode in new[] { ProxyProtocol.V1, ProxyProtocol.V2, ProxyProtocol.Any })
            {
                var status = ProxyHeaderParser.Parse(input, mode, out var header, out var length, out var error);
                switch (status)
                {
                    case ProxyParseStatus.Done:
                        Assert.InRange(length, ProxyHeaderParser.MinBytes, Math.Min(input.Length, ProxyHeaderParser.MaxBytes));
                        // The same bytes cut at the header's end parse the same.
                        Assert.Equal(ProxyParseStatus.Done, ProxyHeaderParser.Parse(input.AsSpan(0, length), mode, out var again, out _, out _));
                        Assert.Equal(header, again);
                        break;
                    case ProxyParseStatus.Invalid:
                        Assert.False(string.IsNullOrEmpty(error));
                        Assert.True(error!.Length < 300, error);
                        break;
                    default:
                        // Waiting for more is only allowed below the largest header there can be.
                        Assert.True(input.Length < ProxyHeaderParser.MaxBytes);
                        Assert.True(input.Length < ProxyHeaderParser.V1MaxBytes || input[0] == 0x0D);
                        Assert.True(ProxyHeaderParser.BytesWanted(input, mode) > 0);
                        break;
                }
            }
        }, iter: 3000, seed: "0000000000001", threads: 1);
    }

    [Fact]
    public void Fed_one_byte_at_a_time_the_outcome_is_the_same_as_whole()
    {
        HostileInput.Sample(input =>
        {
            var whole = ProxyHeaderParser.Parse(input, ProxyProtocol.Any, out var header, out var length, out _);
            // Byte by byte, as a proxy trickling its header: the first n that is not NeedMore decides.
            for (var n = 0; n <= input.Length; n++)
            {
                var status = ProxyHeaderParser.Parse(input.AsSpan(0, n), ProxyProtocol.Any, out var h, out var l, out _);
                if (status == ProxyParseStatus.NeedMore)
                    continue;
                Assert.Equal(whole, status);
                if (status == ProxyParseStatus.Done)
                    Assert.Equal((header, length), (h, l));
                return;
            }
            Assert.Equal(ProxyParseStatus.NeedMore, whole);
        }, iter: 3000, seed: "0000000000002", threads: 1);
    }
}
