using System.Runtime.CompilerServices;
using Ferry.Framing;

namespace Ferry.Bridge.Zmtp;

/// <summary>Adds the <c>zmtp</c> framing to <see cref="FramingRegistry.Default"/> when the library loads.</summary>
internal static class ZmtpRegistration
{
    // A module initializer, because the framing layer must not know the bridge, and every spec parsed
    // anywhere (the CLI, configuration, FramingSpec.Parse) should still find "zmtp" without a setup call.
#pragma warning disable CA2255 // The library registers its own framing; nothing outside it is initialised.
    [ModuleInitializer]
    internal static void Register() => FramingRegistry.Default.Add("zmtp", ZmtpFraming.Create);
#pragma warning restore CA2255
}
