using Microsoft.Extensions.Logging;

namespace Ferry.Bridge.Internal;

/// <summary>
/// Gives every logger one category: a bridge end's stages log under the end's own name
/// (<c>Ferry.Bridge.&lt;addr&gt;.Server.&lt;port&gt;</c>), as Rogue names its loggers per instance.
/// </summary>
internal sealed class CategoryLoggerFactory(ILoggerFactory inner, string category) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => inner.CreateLogger(category);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The inner factory belongs to the caller.
    }
}
