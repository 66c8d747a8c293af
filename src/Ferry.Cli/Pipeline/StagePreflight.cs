using System.Net.Sockets;
using System.Security.Cryptography;
using Ferry.Bridge;
using Ferry.Bridge.Internal;
using Ferry.Bus;
using Ferry.Hosting.Settings;
using Ferry.Stages;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// What <c>ferry run</c> would find only when it creates the stages, found by <c>ferry check</c> too: each
/// TCP stage is built (its options, TLS certificates, keys, CA bundle and CRL loaded and checked against each
/// other) and disposed without starting or binding, and each bridge end's options are validated and a
/// bridge server's address resolved. Every failure becomes a problem at the key it names.
/// </summary>
internal static class StagePreflight
{
    public static void Check(ConfigNode stagesNode, IReadOnlyList<StageDeclaration> stages, List<SettingProblem> problems)
    {
        foreach (var stage in stages)
        {
            var block = stagesNode.Nodes.FirstOrDefault(n => n.Find("name")?.Value == stage.Name);
            if (block is null)
                continue;
            switch (stage)
            {
                case ServerStageDeclaration server:
                    Build(block, problems, () => new TcpServerStage(server.Options, new InProcessBus()).DisposeAsync());
                    CheckBindHost(block, server, problems);
                    break;
                case ClientStageDeclaration client:
                    Build(block, problems, () => new TcpClientStage(client.Options, new InProcessBus()).DisposeAsync());
                    break;
                case BridgeStageDeclaration bridge:
                    CheckBridge(block, bridge, problems);
                    break;
            }
        }
    }

    private static void Build(ConfigNode block, List<SettingProblem> problems, Func<ValueTask> createAndDispose)
    {
        try
        {
            createAndDispose().AsTask().GetAwaiter().GetResult();
        }
        catch (StageOptionsException ex)
        {
            foreach (var problem in ex.MarkedProblems)
                Add(block, problem, problems);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException or IOException or UnauthorizedAccessException)
        {
            Add(block, ex.Message, problems);
        }
    }

    /// <summary>A server's host that does not resolve (<see cref="BindHostCheck"/>), at the key that gave it: bind, or host.</summary>
    private static void CheckBindHost(ConfigNode block, ServerStageDeclaration server, List<SettingProblem> problems)
    {
        if (BindHostCheck.Problem(server.Options.Bind, out var host) is not { } problem)
            return;
        if (Key(block, "bind") is { } bind)
            problems.Add(new SettingProblem(bind.Where, bind.Path, bind.Value, $"names the host '{host}', which {problem}"));
        else if (Key(block, "host") is { } hostNode)
            problems.Add(new SettingProblem(hostNode.Where, hostNode.Path, hostNode.Value, problem));
    }

    private static void CheckBridge(ConfigNode block, BridgeStageDeclaration bridge, List<SettingProblem> problems)
    {
        try
        {
            new FrameBridgeOptions { HandshakeTimeout = bridge.HandshakeTimeout, MaxPayloadBytes = bridge.MaxPayloadBytes, FrameTimeout = bridge.FrameTimeout }.Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            var key = ex.ParamName switch
            {
                nameof(FrameBridgeOptions.HandshakeTimeout) => "handshake_timeout",
                nameof(FrameBridgeOptions.FrameTimeout) => "frame_timeout",
                _ => "max_payload",
            };
            var node = Key(block, key) ?? block;
            problems.Add(new SettingProblem(node.Where, node.Path, node.Value, StripParameter(ex.Message)));
        }
        if (!bridge.IsServer)
            return; // a client resolves its address at every attempt, as it may start before the name exists
        try
        {
            BridgeAddress.ResolveForBind(bridge.Address);
        }
        catch (Exception ex) when (ex is ArgumentException or SocketException)
        {
            var node = Key(block, "address") ?? Key(block, "host") ?? block;
            problems.Add(new SettingProblem(node.Where, node.Path, node.Value, $"is not an address this machine can listen on: {StripParameter(ex.Message)}"));
        }
    }

    /// <summary>
    /// "option 'tls.certificate_revocation_list': its signature …" goes to the key in the file that gave that setting, other keys it names
    /// said as the file spells them (<c>Tls.CaCertificateFile</c> in a PascalCase file). A key the file
    /// does not set (a default the stage cannot use, a setting the block gives another way) is told at the nearest block that holds it
    /// (the tls block for a TLS setting, else the stage), by its name as the file would spell it: the text after it alone said nothing
    /// of which setting it was about.
    /// </summary>
    internal static void Add(ConfigNode block, string problem, List<SettingProblem> problems)
    {
        const string prefix = "option '";
        if (!problem.StartsWith(prefix, StringComparison.Ordinal) || problem.IndexOf("': ", prefix.Length, StringComparison.Ordinal) is not (var end and > 0))
        {
            var at = Key(block, "tls") ?? block;
            problems.Add(new SettingProblem(at.Where, at.Path, at == block ? null : at.Value, StageOptionsException.SayKeys(problem, key => key)));
            return;
        }
        var spelling = KeySpelling.Of((block.Find("config")?.Nodes ?? []).Concat(block.Nodes).Select(n => n.Key));
        var key = problem[prefix.Length..end];
        var message = StageOptionsException.SayKeys(problem[(end + 3)..], spelling.SayPath);
        var (node, depth) = Setting(block, key);
        var segments = key.Split('.');
        if (node is not null && depth == segments.Length)
        {
            problems.Add(new SettingProblem(node.Where, node.Path, node == block ? null : node.Value, message));
            return;
        }
        if (node is null && segments.Length > 1 && segments[0] == "tls" && Key(block, "tls") is { } tls)
            (node, depth) = (tls, 1);
        node ??= block;
        problems.Add(new SettingProblem(node.Where, node.Path, null, $"{spelling.SayPath(string.Join('.', segments[depth..]))}: {message}"));
    }

    /// <summary>
    /// The node of a dotted option name such as <c>tls.certificate.certificate_file</c>, or of as many of its leading parts as the
    /// block sets (with how many); a segment also matches a key it begins (<c>certificate_revocation_list</c> is given as
    /// <c>certificate_revocation_list_file</c> or <c>_pem</c>).
    /// </summary>
    private static (ConfigNode? Node, int Depth) Setting(ConfigNode block, string option)
    {
        ConfigNode? node = null;
        var depth = 0;
        foreach (var segment in option.Split('.'))
        {
            var normal = SettingEntries.Normalize(segment);
            IReadOnlyList<ConfigNode> children = node?.Nodes ?? (block.Find("config") is { Kind: ConfigNodeKind.Mapping } config ? [.. config.Nodes, .. block.Nodes] : block.Nodes);
            var next = children.FirstOrDefault(c => SettingEntries.Normalize(c.Key) == normal)
                ?? children.FirstOrDefault(c => SettingEntries.Normalize(c.Key) is var given && (given == normal + "file" || given == normal + "pem"));
            if (next is null)
                return (node, depth);
            node = next;
            depth++;
        }
        return (node, depth);
    }

    private static ConfigNode? Key(ConfigNode block, string key)
        => block.Find("config") is { Kind: ConfigNodeKind.Mapping } config && config.Find(key) is { } inConfig ? inConfig : block.Find(key);

    /// <summary>"must be at least 1 ms (Parameter 'HandshakeTimeout')" without the parameter: the key is on the line.</summary>
    private static string StripParameter(string message)
    {
        var at = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return at < 0 ? message : message[..at];
    }
}
