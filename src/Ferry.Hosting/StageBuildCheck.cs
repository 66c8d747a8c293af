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
    /// certificate file, which the stage's constructor reports by its key); a stage from configuration, whose keys the reader has
    /// already checked, by its key.
    /// </summary>
    internal static string InWordsOf(StageDeclaration stage, string marked)
        => stage.Where.StartsWith("configuration", StringComparison.Ordinal)
            ? StageOptionsException.SayKeys(marked, key => key)
            : StageOptionsException.ForCode(marked, stage is ClientStageDeclaration ? nameof(TcpClientStageOptions) : nameof(TcpServerStageOptions));

    /// <summary>A stage that never started disposes at once (nothing to drain); validation has no await.</summary>
    private static void Dispose(ValueTask disposal) => disposal.AsTask().GetAwaiter().GetResult();
}
