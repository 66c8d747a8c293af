namespace Ferry.Bus;

/// <summary>
/// Marks an inline handler (<see cref="ITopic{T}.Subscribe"/>) that waits on purpose to slow its
/// publisher down: a gateway that must not outrun its sink, a route into another stage's full egress.
/// A stage warns when an inline <c>packet_group</c> handler does not complete synchronously (an
/// <c>await</c> there stalls every connection of the stage); it does not warn about handlers marked so.
/// </summary>
/// <example><c>topic.Subscribe([BackpressureHandler] async (group, ct) =&gt; await sink.WriteAsync(group, ct));</c></example>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class BackpressureHandlerAttribute : Attribute;
