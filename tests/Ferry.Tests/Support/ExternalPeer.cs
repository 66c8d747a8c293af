using System.Diagnostics;

namespace Ferry.Tests.Support;

/// <summary>Stopping an external peer a test started (HAProxy, Prometheus): kill it, wait for it, remove its private directory.</summary>
public static class ExternalPeer
{
    public static async Task StopAsync(Process process, string directory)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It had already gone.
        }
        process.Dispose();
        Directory.Delete(directory, recursive: true);
    }
}
