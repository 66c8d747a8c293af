using System.Security.Cryptography;
using Ferry.Bus;
using Ferry.Hosting.Settings;
using Ferry.Stages;

namespace Ferry.Hosting;

/// <summary>
/// Finds at validation what a stage's constructor finds: each declared TCP stage is built on a bus of its own (its options
/// checked, its TLS certificate, key, CA bundle and CRL read and checked against each other) and disposed without binding.
/// A stage declared in code (<c>AddTcpServerStage</c>) is checked only this way, so without it a missing certificate file
/// failed the start only once earlier stages were listening, and without the stage's name.
/// </summary>
internal static class StageBuildCheck
{
    /// <summary>The stage's problems, each beginning with where it was declared; none when it builds.</summary>
    public static IEnumerable<string> Problems(StageDeclaration stage)
    {
        try
        {
            switch (stage)
            {
                case ServerStageDeclaration server:
                    Dispose(new TcpServerStage(server.Options, new InProcessBus()).DisposeAsync());
                    break;
                case ClientStageDeclaration client:
                    Dispose(new TcpClientStage(client.Options, new InProcessBus()).DisposeAsync());
                    break;
            }
            return [];
        }
        catch (StageOptionsException ex)
        {
            return ex.MarkedProblems.Select(p => $"{stage.Where}: {InWordsOf(stage, p)}");
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException or IOException or UnauthorizedAccessException)
        {
            return [$"{stage.Where}: {ex.Message}"];
        }
    }

    /// <summary>
    /// A problem as the one who declared the stage wrote it: a stage added in code (<c>AddTcpServerStage("x", o =&gt; …)</c>) by
    /// its C# property (<c>TcpServerStageOptions.Tls.Certificate.CertificateFile</c>), also for what only building finds (an unreadable
    /// certificate file, which the stage's constructor reports by its key); a stage from configuration by its key as spelled there
    /// (<c>Tls.CertificateRevocationList: issued by …</c>: a CRL of another CA is found only when the stage loads it).
    /// </summary>
    internal static string InWordsOf(StageDeclaration stage, string marked)
    {
        if (stage.Spelling is not { } spelling)
            return StageOptionsException.ForCode(marked, stage is ClientStageDeclaration ? nameof(TcpClientStageOptions) : nameof(TcpServerStageOptions));
        const string prefix = "option '";
        var said = StageOptionsException.SayKeys(marked, spelling.SayPath);
        var end = said.StartsWith(prefix, StringComparison.Ordinal) ? said.IndexOf("': ", prefix.Length, StringComparison.Ordinal) : -1;
        return end < 0 ? said : $"{spelling.SayPath(said[prefix.Length..end])}: {said[(end + 3)..]}";
    }

    /// <summary>A stage that never started disposes at once (nothing to drain); validation has no await.</summary>
    private static void Dispose(ValueTask disposal) => disposal.AsTask().GetAwaiter().GetResult();
}
