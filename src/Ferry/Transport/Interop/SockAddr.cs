using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Ferry.Transport.Interop;

/// <summary>Converts between the kernel's <c>sockaddr_in</c>/<c>sockaddr_in6</c> and <see cref="IPEndPoint"/>.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static unsafe class SockAddr
{
    public const int StorageSize = 128;

    public static IPEndPoint? Read(byte* addr, int length)
    {
        var family = *(ushort*)addr;
        var port = BinaryPrimitives.ReverseEndianness(*(ushort*)(addr + 2));
        if (family == Libc.AF_INET && length >= 16)
            return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(addr + 4, 4)), port);
        if (family == Libc.AF_INET6 && length >= 28)
        {
            var scope = *(uint*)(addr + 24);
            var ip = new IPAddress(new ReadOnlySpan<byte>(addr + 8, 16), scope);
            // A dual-mode listener reports IPv4 clients as ::ffff:a.b.c.d; show them as what they are.
            return new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, port);
        }
        return null;
    }

    /// <summary>Writes <paramref name="endPoint"/> as a sockaddr; returns its length.</summary>
    public static int Write(IPEndPoint endPoint, byte* addr)
    {
        new Span<byte>(addr, StorageSize).Clear();
        var port = BinaryPrimitives.ReverseEndianness((ushort)endPoint.Port);
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            *(ushort*)addr = Libc.AF_INET;
            *(ushort*)(addr + 2) = port;
            endPoint.Address.TryWriteBytes(new Span<byte>(addr + 4, 4), out _);
            return 16;
        }
        *(ushort*)addr = Libc.AF_INET6;
        *(ushort*)(addr + 2) = port;
        endPoint.Address.TryWriteBytes(new Span<byte>(addr + 8, 16), out _);
        *(uint*)(addr + 24) = (uint)endPoint.Address.ScopeId;
        return 28;
    }
}
