using Ferry.Transport.Tls;

namespace Ferry.Tests.Transport;

/// <summary>
/// Which OpenSSL the stream transport may give a connection's record buffers back on: <c>SSL_free_buffers</c> freed a
/// buffer still in use (bytes of the peer's that came with the handshake's last flight) before CVE-2024-4741's fix.
/// </summary>
public sealed class TlsIdleMemoryTests
{
    [Theory]
    [InlineData(0x300000D0L, false)] // 3.0.13
    [InlineData(0x300000E0L, true)] // 3.0.14
    [InlineData(0x30000160L, true)] // 3.0.22
    [InlineData(0x30100050L, false)] // 3.1.5
    [InlineData(0x30100060L, true)] // 3.1.6
    [InlineData(0x30200010L, false)] // 3.2.1
    [InlineData(0x30200020L, true)] // 3.2.2
    [InlineData(0x30300000L, false)] // 3.3.0
    [InlineData(0x30300010L, true)] // 3.3.1
    [InlineData(0x30400000L, true)] // 3.4.0
    [InlineData(0x1010117FL, false)] // 1.1.1w: not the OpenSSL 3 measured
    [InlineData(0x40000000L, false)] // 4.0.0: another major, not measured
    public void Buffers_are_given_back_only_on_an_OpenSSL_3_with_the_fix(long version, bool expected)
        => Assert.Equal(expected, TlsIdleMemory.FreesBuffersSafely(version));
}
