using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Ferry.Tests.Platform;

/// <summary>
/// Every native entry point in Ferry's shipped assemblies (<c>[DllImport]</c>, <c>[LibraryImport]</c> and the stubs the
/// latter generates) is declared in a type marked <c>[SupportedOSPlatform("linux")]</c>. That mark is what makes the
/// platform-compatibility analyzer (CA1416, an error in src/) hold every call behind a Linux guard; an unmarked
/// import would let an unguarded call reach a Windows or macOS user as a DllNotFoundException or
/// EntryPointNotFoundException when their service starts, with nothing in the build to say so.
/// </summary>
public sealed class LinuxOnlyInteropTests
{
    private static readonly Dictionary<string, Assembly> Shipped = new()
    {
        ["Ferry"] = typeof(Ferry.Transport.StageTransport).Assembly,
        ["Ferry.Cli"] = typeof(Ferry.Cli.StartupPages).Assembly,
        ["Ferry.Hosting"] = typeof(Ferry.Hosting.FerryOptions).Assembly,
        ["Ferry.Nats"] = typeof(Ferry.Nats.NatsGateway).Assembly,
        ["Ferry.Testing"] = typeof(FerryTestServer).Assembly,
    };

    public static TheoryData<string> AssemblyNames => new(Shipped.Keys);

    [Theory]
    [MemberData(nameof(AssemblyNames))]
    public void Every_native_import_is_declared_in_a_type_marked_linux_only(string assembly)
    {
        var unmarked = NativeImports(Shipped[assembly])
            .Where(m => !IsLinuxOnly(m.DeclaringType!))
            .Select(m => $"{m.DeclaringType!.FullName}.{m.Name}")
            .ToList();
        Assert.True(unmarked.Count == 0,
            $"native imports in {assembly} whose type (or an enclosing one) lacks [SupportedOSPlatform(\"linux\")], so CA1416 cannot hold their callers to a Linux guard:\n"
            + string.Join('\n', unmarked));
    }

    /// <summary>The check above is not vacuous: it finds the imports it is there for.</summary>
    [Fact]
    public void The_check_finds_the_imports_it_guards()
    {
        var ferry = NativeImports(Shipped["Ferry"]).Select(m => m.DeclaringType!.Name).ToHashSet();
        Assert.Contains("Libc", ferry);
        Assert.Contains("LibSsl", ferry);
        var cli = NativeImports(Shipped["Ferry.Cli"]).Select(m => m.DeclaringType!.FullName).ToHashSet();
        Assert.Contains("Ferry.Cli.StartupPages+Native", cli);
        // A [LibraryImport] method's generated stub is a real P/Invoke (PinvokeImpl) in the same type.
        Assert.Contains(typeof(Ferry.Transport.Interop.Libc).GetMethods(All), m => m.Attributes.HasFlag(MethodAttributes.PinvokeImpl) && m.Name.Contains("epoll_wait"));
    }

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    private static IEnumerable<MethodInfo> NativeImports(Assembly assembly)
        => assembly.GetTypes()
            .SelectMany(t => t.GetMethods(All))
            .Where(m => m.Attributes.HasFlag(MethodAttributes.PinvokeImpl)
                || m.IsDefined(typeof(DllImportAttribute), inherit: false)
                || m.IsDefined(typeof(LibraryImportAttribute), inherit: false));

    private static bool IsLinuxOnly(Type type)
    {
        for (Type? t = type; t is not null; t = t.DeclaringType)
            if (t.GetCustomAttributes<SupportedOSPlatformAttribute>(inherit: false).Any(a => a.PlatformName.StartsWith("linux", StringComparison.OrdinalIgnoreCase)))
                return true;
        return false;
    }
}
