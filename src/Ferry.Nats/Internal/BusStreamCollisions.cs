namespace Ferry.Nats.Internal;

/// <summary>
/// Where two stages on one server would name the same JetStream stream, however each configures its streams: a stream option
/// without <c>{stage}</c> (<c>ingress_stream: events</c> on every stage), one stage's ingress stream named as another's egress
/// stream (<c>{prefix}_{stage}</c> for <c>a_out</c> and <c>{prefix}_{stage}_out</c> for <c>a</c>), or another prefix
/// (<c>a.b</c> with stage <c>c</c> and <c>a</c> with stage <c>b_c</c> both make <c>a_b_c_in</c>: a '.' becomes '_'). A stream
/// holds the subjects it was created with, one stage's: the gateway that started second found it taking none of its own and failed
/// its start, with the first stage already running. Their subjects may all differ, so <see cref="BusSubjectCollisions"/> does not
/// see it.
/// </summary>
/// <remarks>
/// Names are compared as nats-server compares them: exactly, case included. It keeps an account's streams by their exact name (with
/// nats-server 2.9 <c>Foo</c> and <c>foo</c> are created as two streams, and looking up <c>FOO</c> finds neither), so names that
/// differ only in case are two streams and do not meet.
/// </remarks>
internal static class BusStreamCollisions
{
    /// <summary>
    /// Each stream of <paramref name="later"/> that is one of <paramref name="earlier"/>'s, in the order of its options (ingress, then
    /// egress), said of the later one (the stage that is refused: <c>meets stage 'a' on JetStream: …</c>, to follow its name), naming
    /// the other stage, both options (each as its own reader knows it) and the stream. Nothing in core mode: it has no streams.
    /// </summary>
    public static IEnumerable<string> Between(StageStreams earlier, StageStreams later)
    {
        // Every gateway of one stage uses its streams: that is what they are for.
        if (earlier.Stage == later.Stage)
            yield break;
        foreach (var stream in later.Streams)
            if (Meeting(earlier, later, stream) is { } problem)
                yield return problem;
    }

    /// <summary>
    /// Every stream of every stage of <paramref name="stages"/> (in order) that is an earlier stage's, with the first stage it is; a
    /// stage whose two streams are others' has two problems, so that one reading says both.
    /// </summary>
    public static IEnumerable<(StageStreams Stage, string Problem)> Of(IReadOnlyList<StageStreams> stages)
    {
        for (var j = 1; j < stages.Count; j++)
            foreach (var stream in stages[j].Streams)
                for (var i = 0; i < j; i++)
                    if (stages[i].Stage != stages[j].Stage && Meeting(stages[i], stages[j], stream) is { } problem)
                    {
                        yield return (stages[j], problem);
                        break;
                    }
    }

    private static string? Meeting(StageStreams earlier, StageStreams later, (string Key, string Template, string Name) stream)
    {
        foreach (var (theirKey, theirTemplate, theirName) in earlier.Streams)
        {
            if (!string.Equals(stream.Name, theirName, StringComparison.Ordinal))
                continue;
            var mine = later.Say(stream.Key);
            var theirs = earlier.Say(theirKey);
            return $"meets stage '{earlier.Stage}' on JetStream: its {mine} '{stream.Name}' and the {theirs} '{theirName}' of '{earlier.Stage}' are one "
                + "stream, which holds the subjects of one stage only: the gateway that starts second would fail its start; give each stage streams "
                + $"of its own: change {mine}{(mine == theirs ? "" : $" or {theirs}")} ({Why(stream.Template, theirTemplate)})";
        }
        return null;
    }

    /// <summary>What made the one name: a template without <c>{stage}</c>, or the words around it.</summary>
    private static string Why(string mine, string theirs)
        => mine.Contains("{stage}", StringComparison.Ordinal) && theirs.Contains("{stage}", StringComparison.Ordinal)
            ? "each has {stage}, but with the words around it the two stages' names make one stream name"
            : "{stage} in a stream name makes it the stage's own";
}
