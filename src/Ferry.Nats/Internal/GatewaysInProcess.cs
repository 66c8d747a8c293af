namespace Ferry.Nats.Internal;

/// <summary>
/// The gateways of this process that are started, by server, with their stages' subjects and JetStream streams: a gateway made in
/// code with options of its own (another prefix, a template without <c>{stage}</c>) is checked at start against the others on its
/// server, before it connects (<see cref="BusSubjectCollisions"/>, <see cref="BusStreamCollisions"/>). A host or <c>ferry run</c>
/// checks its stages when it reads its configuration.
/// </summary>
internal static class GatewaysInProcess
{
    private static readonly Lock s_lock = new();
    private static readonly List<(object Owner, string Server, StageSubjects Subjects, StageStreams Streams)> s_started = [];

    /// <summary>Records <paramref name="owner"/>'s subjects and streams on the server of <paramref name="url"/>.</summary>
    /// <exception cref="InvalidOperationException">They meet those of another started gateway's stage on that server: a subject, or
    /// a stream's name (streams are the server's, so only there).</exception>
    public static void Claim(object owner, string url, StageSubjects subjects, StageStreams streams)
    {
        var server = Server(url);
        lock (s_lock)
        {
            foreach (var (_, theirServer, theirs, _) in s_started)
                if (theirServer == server && BusSubjectCollisions.Between(theirs, subjects) is { } problem)
                    throw new InvalidOperationException($"stage '{subjects.Stage}' {problem}");
            foreach (var (_, theirServer, _, theirs) in s_started)
                if (theirServer == server && BusStreamCollisions.Between(theirs, streams).FirstOrDefault() is { } problem)
                    throw new InvalidOperationException($"stage '{streams.Stage}' {problem}");
            s_started.Add((owner, server, subjects, streams));
        }
    }

    /// <summary>Forgets <paramref name="owner"/> (stopped, or its start failed).</summary>
    public static void Release(object owner)
    {
        lock (s_lock)
            s_started.RemoveAll(g => ReferenceEquals(g.Owner, owner));
    }

    /// <summary>The server a URL names: its host and port (4222 when none is given), whatever the scheme.</summary>
    private static string Server(string url)
        => Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"{uri.Host.ToLowerInvariant()}:{(uri.Port < 0 ? 4222 : uri.Port)}" : url;
}
