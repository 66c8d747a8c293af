namespace Ferry.Nats.Internal;

/// <summary>
/// What <see cref="StreamRecreator"/> says about the stream it recreates: which one it is (ingress or egress, and its
/// option), and what goes on once it is back or waits while it is missing, in the operator's words.
/// </summary>
/// <param name="Role">"ingress" or "egress".</param>
/// <param name="Option">The option that names the stream, as the reader of the gateway's options knows it (<c>NatsGatewayOptions.IngressStream</c>,
/// <c>bus.ingress_stream</c>: <see cref="NatsGatewayOptions.Say"/>).</param>
/// <param name="Stream">The stream's name.</param>
/// <param name="Subject">The subject it takes.</param>
/// <param name="Then">What goes on once it is recreated.</param>
/// <param name="Meanwhile">What happens while it cannot be.</param>
internal sealed record RecreatedStream(string Role, string Option, string Stream, string Subject, string Then, string Meanwhile)
{
    /// <param name="stream">The ingress stream.</param>
    /// <param name="subject">The ingress subject.</param>
    /// <param name="option">The option that names it, as its reader knows it; the property when null.</param>
    public static RecreatedStream Ingress(string stream, string subject, string? option = null) => new("ingress", option ?? NatsGatewayOptions.PropertyOf("ingress_stream"), stream, subject,
        $"publishes to {subject} go on (those that went unacknowledged meanwhile are sent again, ingress_retries)",
        $"publishes to {subject} go unacknowledged (ingress_retries)");

    /// <param name="stream">The egress stream.</param>
    /// <param name="subject">The shared egress subject (the stream takes it and those below it).</param>
    /// <param name="consumers">The gateway's consumers of it, recreated with it.</param>
    /// <param name="hold">The consumer that keeps what the stream takes for the stage's other gateways.</param>
    /// <param name="holdFor">How long the hold lasts.</param>
    /// <param name="option">The option that names it, as its reader knows it; the property when null.</param>
    public static RecreatedStream Egress(string stream, string subject, IReadOnlyList<string> consumers, string hold, TimeSpan holdFor, string? option = null)
        => new("egress", option ?? NatsGatewayOptions.PropertyOf("egress_stream"), stream, subject,
        $"its consumers {string.Join(", ", consumers)} too; egress published to {subject} reaches clients again (what workers published while it was missing was stored nowhere), "
        + $"and what it takes is kept for {holdFor.TotalSeconds:0} s (consumer {hold}) for the stage's other gateways, which make their consumers again once they notice",
        $"egress published to {subject} is stored nowhere and reaches no client");
}
