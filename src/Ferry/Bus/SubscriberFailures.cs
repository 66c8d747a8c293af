using System.Runtime.ExceptionServices;

namespace Ferry.Bus;

/// <summary>
/// What a publish throws when several subscribers of one topic failed it: each failure, in subscription
/// order. Each subscriber is isolated, so a publish goes on past a failure to the other handlers and the
/// queues, and reports what failed only once every subscriber has the message.
/// </summary>
internal sealed class SubscriberFailures : AggregateException
{
    private SubscriberFailures(string topic, List<Exception> failures)
        : base($"{failures.Count} subscribers of '{topic}' failed", failures)
    {
    }

    /// <summary>Throws what the failed subscribers threw: one failure as itself (with its own stack trace), several together.</summary>
    public static void Throw(string topic, List<Exception> failures)
    {
        if (failures.Count == 1)
            ExceptionDispatchInfo.Throw(failures[0]);
        throw new SubscriberFailures(topic, failures);
    }

    /// <summary>Each failure a publish threw: the several of a <see cref="SubscriberFailures"/>, else the one.</summary>
    public static IReadOnlyList<Exception> Each(Exception publishFailure) =>
        publishFailure is SubscriberFailures several ? several.InnerExceptions : [publishFailure];
}
