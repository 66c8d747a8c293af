namespace Ferry.Nats.Internal;

/// <summary>
/// Where two stages on one bus would meet on a subject, however each configures its subjects. The name check
/// (<see cref="StageSubjectCollisions"/>) compares a stage with others of the same subject templates; stages whose subjects are
/// configured differently (a template without <c>{stage}</c>, another prefix, one gateway's options against another's) met
/// unseen: a subject one publishes on taken by the other's subscription (its egress and everything below it, its control
/// subject), or two stages' ingress on one subject, which no worker can tell apart. Every pair of the two stages' subjects is
/// compared with NATS token semantics (<see cref="SubjectPattern"/>). The events subject and the stats subject may be shared
/// (events with events, stats with stats): each event and each stats message names its stage.
/// </summary>
internal static class BusSubjectCollisions
{
    /// <summary>
    /// The first meeting of <paramref name="later"/>'s subjects with <paramref name="earlier"/>'s, said of the later one (the stage
    /// that is refused: <c>meets stage 'a' on NATS: …</c>, to follow its name), naming the other stage, both options (each as its own
    /// reader knows it) and both subjects; null when they do not meet.
    /// </summary>
    public static string? Between(StageSubjects earlier, StageSubjects later)
    {
        if (earlier.Stage == later.Stage)
            return null;
        foreach (var (key, pattern, shareable) in later.Subjects)
            foreach (var (theirKey, theirPattern, theirShareable) in earlier.Subjects)
            {
                if (shareable && theirShareable && key == theirKey)
                    continue;
                if (SubjectPattern.Meeting(pattern, theirPattern) is not { } subject)
                    continue;
                var mine = later.Say(key);
                var theirs = earlier.Say(theirKey);
                return $"meets stage '{earlier.Stage}' on NATS: its {Said(mine, pattern)} and the {Said(theirs, theirPattern)} of "
                    + $"'{earlier.Stage}' meet on '{subject}', so their messages would mix; give each stage subjects of its own: "
                    + $"change {mine}{(mine == theirs ? "" : $" or {theirs}")} ({{stage}} in a subject makes it the stage's own)";
            }
        return null;
    }

    /// <summary>Every stage of <paramref name="stages"/> (in order) that meets an earlier one, with the first meeting (<see cref="Between"/>).</summary>
    public static IEnumerable<(StageSubjects Stage, string Problem)> Of(IReadOnlyList<StageSubjects> stages)
    {
        for (var j = 1; j < stages.Count; j++)
            for (var i = 0; i < j; i++)
                if (Between(stages[i], stages[j]) is { } problem)
                {
                    yield return (stages[j], problem);
                    break;
                }
    }

    /// <summary>An option and its subject: the egress subject's <c>.&gt;</c> is everything below it.</summary>
    private static string Said(string key, string pattern)
        => pattern.EndsWith(".>", StringComparison.Ordinal) ? $"{key} '{pattern[..^2]}' (and every subject below it, '{pattern}')" : $"{key} '{pattern}'";
}
