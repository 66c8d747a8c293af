namespace Ferry.Bridge.Zmtp;

/// <summary>The peer broke ZMTP: the connection cannot go on and is closed.</summary>
internal sealed class ZmtpProtocolException : Exception
{
    public ZmtpProtocolException(string message) : base(message)
    {
    }
}
