using Ferry.Stages;
using Ferry.Transport;

namespace Ferry.Tests.Support;

/// <summary>
/// Puts a test class's transport on the options it builds, so one suite runs on the epoll and on the
/// stream transport (each test class is abstract with a nested <c>OnEpoll</c> and <c>OnStream</c>).
/// </summary>
public static class TransportChoice
{
    public static TcpServerStageOptions On(this TcpServerStageOptions options, StageTransport transport) => options with { Transport = transport };

    public static TcpClientStageOptions On(this TcpClientStageOptions options, StageTransport transport) => options with { Transport = transport };
}
