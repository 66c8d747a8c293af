using Ferry.Transport.Interop;

namespace Ferry.Transport.Epoll;

/// <summary>
/// Descriptors kept free below the process limit for the runtime and the stage: running out there
/// (a file the runtime must open, an eventfd, a dial) crashes or wedges the process, while running out
/// for one more client only costs that client. Descriptors are handed out lowest first, so an accepted
/// one numbered N means every one below N is in use: at or above <see cref="Ceiling"/> only the reserve is left.
/// </summary>
internal static class DescriptorReserve
{
    /// <summary>The process's soft limit on open descriptors when the stage started (-1 when unknown).</summary>
    public static readonly long Limit = Libc.DescriptorLimit();

    /// <summary>The first descriptor number that belongs to the reserve (long.MaxValue when the limit is unknown).</summary>
    public static readonly long Ceiling = Limit <= 0 ? long.MaxValue : Limit - Math.Clamp(Limit / 20, Math.Min(32, Limit / 4), 1024);
}
