using System.Net;

namespace Ferry.Stages.Internal;

/// <summary>
/// <c>connection_rate_per_ip</c>: each address's attempts in its current fixed window (the window starts at
/// the address's first attempt and lasts <c>connection_rate_window</c> on the stage clock). Service thread.
/// </summary>
/// <remarks>
/// Every accept pays O(1) amortised, whatever the number of addresses: windows all have the same length and
/// start at "now", so they expire in the order they started. A queue in that order lets each attempt drop
/// the windows that have ended from its front, each window once, instead of scanning the table (the old
/// sweep copied the whole table on every accept once it held 4096 addresses: quadratic under many
/// addresses). Memory is bounded by <see cref="DefaultCapacity"/> addresses; when more distinct addresses
/// than that are inside their windows, the window that started first is forgotten early. An address can
/// then be admitted again before its window ends only after that many other addresses were taken in the
/// meantime, which an attacker able to produce them had anyway: refusing every new address instead would
/// let such a flood lock out all new clients.
/// </remarks>
internal sealed class ConnectionRateTable
{
    /// <summary>Addresses tracked at most (about 100 bytes each).</summary>
    public const int DefaultCapacity = 65_536;

    private readonly int _limit;
    private readonly long _windowMs;
    private readonly int _capacity;
    private readonly Dictionary<IPAddress, Window> _windows = [];
    /// <summary>The open windows in the order they started (which is the order they end).</summary>
    private readonly Queue<(IPAddress Address, long StartMs)> _byStart = new();

    /// <param name="limit">Attempts allowed per address and window (positive).</param>
    /// <param name="windowMs">The window's length in milliseconds (positive).</param>
    /// <param name="capacity">Addresses tracked at most.</param>
    public ConnectionRateTable(int limit, long windowMs, int capacity = DefaultCapacity)
    {
        _limit = limit;
        _windowMs = windowMs;
        _capacity = capacity;
    }

    /// <summary>Addresses tracked now.</summary>
    public int Count => _windows.Count;

    /// <summary>
    /// Counts one attempt from <paramref name="address"/> at <paramref name="nowMs"/> (stage clock, never
    /// going back); true while the address is within its rate. Attempts over the rate count too, so a
    /// client hammering the port stays refused until it slows down.
    /// </summary>
    public bool TryAdmit(IPAddress address, long nowMs)
    {
        Expire(nowMs);
        if (_windows.TryGetValue(address, out var window))
        {
            // Saturating: a client that keeps trying for a whole window must not wrap the count round.
            if (window.Count < int.MaxValue)
                _windows[address] = window with { Count = window.Count + 1 };
            return window.Count < _limit;
        }
        if (_windows.Count >= _capacity)
            Forget(_byStart.Dequeue());
        _windows.Add(address, new Window(nowMs, 1));
        _byStart.Enqueue((address, nowMs));
        return _limit > 0;
    }

    /// <summary>Drops every window that has ended by <paramref name="nowMs"/>: they are at the front.</summary>
    private void Expire(long nowMs)
    {
        while (_byStart.TryPeek(out var oldest) && nowMs - oldest.StartMs >= _windowMs)
            Forget(_byStart.Dequeue());
    }

    private void Forget((IPAddress Address, long StartMs) entry)
    {
        // Each tracked window has exactly one queue entry; the start is compared anyway so that an entry
        // can never remove a later window of the same address.
        if (_windows.TryGetValue(entry.Address, out var window) && window.StartMs == entry.StartMs)
            _windows.Remove(entry.Address);
    }

    private readonly record struct Window(long StartMs, int Count);
}
