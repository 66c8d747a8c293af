using Ferry.Bus;
using Ferry.Hosting.Settings;
using Ferry.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ferry.Hosting;

/// <summary>
/// Generic Host integration: <c>services.AddFerry(configuration.GetSection("Ferry"))</c> and/or
/// <c>services.AddTcpServerStage("front", o =&gt; o with { Bind = ":9000" })</c>. Stages run as a hosted
/// service, are validated at host start (every problem at once, before any stage starts), report a
/// <c>ferry</c> health check and the <c>Ferry</c> meter. The bus is the registered <see cref="IMessageBus"/>
/// (an <see cref="InProcessBus"/> unless another is registered first).
/// </summary>
public static class FerryServiceCollectionExtensions
{
    /// <summary>
    /// Adds the stages declared under <paramref name="configuration"/>'s <c>Stages</c>: a map from name to
    /// block (<c>Stages:front:Type=tcp_server</c>, <c>Stages:front:Bind=…</c>) or a list of blocks with
    /// <c>Name</c>. Keys may be PascalCase or snake_case; framing is a spec string (<c>lines</c>,
    /// <c>u16be,max_frame_bytes=4096</c>), durations <c>30s</c>, sizes <c>64KiB</c>, TLS as the <c>Tls</c> block.
    /// A <c>Bus</c> section with <c>Type: nats</c> (and <c>Url</c>, <c>Mode</c>, …) connects every server stage to
    /// NATS. Bad values fail the host's start, and so does a section that does not exist (a misspelled name would
    /// otherwise start nothing, silently; the error names the path and a sibling section that looks like it) or one that
    /// declares no stage when none is added in code either. To run only stages added in code, call <see cref="AddFerry(IServiceCollection)"/>.
    /// </summary>
    public static IServiceCollection AddFerry(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddFerry();
        services.AddOptions<FerryOptions>().Configure<IOptions<HostOptions>, IServiceProvider>((options, host, provider) =>
        {
            if (configuration is IConfigurationSection section && !section.Exists())
            {
                options.AddProblem(MissingSection(section, provider.GetService<IConfiguration>()));
                return;
            }
            options.Sections.Add(configuration is IConfigurationSection read ? read.Path : "");
            Read(configuration, options, FerryStagesService.DefaultGrace(host.Value));
        });
        return services;
    }

    /// <summary>Adds the hosted service, the bus, <see cref="FerryStages"/>, validation on start and the <c>ferry</c> health check (once).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    public static IServiceCollection AddFerry(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(FerryStages)))
            return services;
        services.TryAddSingleton<IMessageBus, InProcessBus>();
        // A factory: the container only calls public constructors, and FerryStages has none (only the host creates it).
        services.AddSingleton(_ => new FerryStages());
        services.AddSingleton<IValidateOptions<FerryOptions>, FerryOptionsValidator>();
        services.AddOptions<FerryOptions>().ValidateOnStart();
        services.AddHostedService<FerryStagesService>();
        services.AddHealthChecks().AddCheck<FerryHealthCheck>("ferry", tags: ["ferry"]);
        return services;
    }

    /// <summary>
    /// Adds a TCP server stage named <paramref name="name"/>; <paramref name="configure"/> returns its options (<c>o =&gt; o with { … }</c>).
    /// The options it is given carry the host's shutdown timeout as <c>StopGracePeriod</c>; a shorter one of its own is kept,
    /// a longer one is cut to the shutdown timeout. To map connection handlers or attach events, see <see cref="ConfigureTcpServerStage"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null. (A name a stage cannot have, or a <paramref name="configure"/>
    /// that returns null or sets another <c>Name</c>, fails the host's start with the other problems.)</exception>
    public static IServiceCollection AddTcpServerStage(this IServiceCollection services, string name, Func<TcpServerStageOptions, TcpServerStageOptions>? configure = null)
    {
        // Checked here, where the mistake is: later it would surface at the host's start as a dictionary's "key" (null).
        ArgumentNullException.ThrowIfNull(name);
        services.AddFerry();
        services.AddOptions<FerryOptions>().Configure<IOptions<HostOptions>>((options, host) =>
        {
            var where = $"AddTcpServerStage(\"{name}\")";
            var seed = new TcpServerStageOptions { Name = name, BindAttempts = StageReader.HostedBindAttempts };
            if (FerryStagesService.DefaultGrace(host.Value) is { } grace)
                seed = seed with { StopGracePeriod = grace };
            if ((configure ?? (o => o))(seed) is not { } configured)
            {
                options.AddProblem(ConfigureReturnedNull(where));
                return;
            }
            // The options' default name is no choice (a configure that builds new options: _ => new() { … }).
            if (configured.Name != name && configured.Name != new TcpServerStageOptions().Name)
                options.AddProblem(ConfigureRenamed(where, name, configured.Name));
            options.Add(new ServerStageDeclaration(name, where, configured with { Name = name }));
        });
        return services;
    }

    /// <summary>
    /// Adds a TCP client stage named <paramref name="name"/>; <paramref name="configure"/> returns its options (<c>o =&gt; o with { … }</c>).
    /// The options it is given carry the host's shutdown timeout as <c>StopGracePeriod</c>; a shorter one of its own is kept,
    /// a longer one is cut to the shutdown timeout. To map connection handlers or attach events, see <see cref="ConfigureTcpClientStage"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null. (A name a stage cannot have, or a <paramref name="configure"/>
    /// that returns null or sets another <c>Name</c>, fails the host's start with the other problems.)</exception>
    public static IServiceCollection AddTcpClientStage(this IServiceCollection services, string name, Func<TcpClientStageOptions, TcpClientStageOptions>? configure = null)
    {
        // Checked here, where the mistake is: later it would surface at the host's start as a dictionary's "key" (null).
        ArgumentNullException.ThrowIfNull(name);
        services.AddFerry();
        services.AddOptions<FerryOptions>().Configure<IOptions<HostOptions>>((options, host) =>
        {
            var where = $"AddTcpClientStage(\"{name}\")";
            var seed = new TcpClientStageOptions { Name = name };
            if (FerryStagesService.DefaultGrace(host.Value) is { } grace)
                seed = seed with { StopGracePeriod = grace };
            if ((configure ?? (o => o))(seed) is not { } configured)
            {
                options.AddProblem(ConfigureReturnedNull(where));
                return;
            }
            // The options' default name is no choice (a configure that builds new options: _ => new() { … }).
            if (configured.Name != name && configured.Name != new TcpClientStageOptions().Name)
                options.AddProblem(ConfigureRenamed(where, name, configured.Name));
            options.Add(new ClientStageDeclaration(name, where, configured with { Name = name }));
        });
        return services;
    }

    /// <summary>
    /// Sets up the server stage named <paramref name="name"/> (declared in configuration or with <see cref="AddTcpServerStage"/>)
    /// when the host has built it and before it listens: <c>stage.MapConnections(…)</c> to serve each connection with a handler,
    /// <c>stage.Connected += …</c> and the other events (which then see the first connection), bus subscriptions. Runs at every host
    /// start, on the starting thread, in registration order, with the host's services; a throw fails the start. A name that is not a
    /// declared server stage fails the start's validation.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="configure"/> is null.</exception>
    public static IServiceCollection ConfigureTcpServerStage(this IServiceCollection services, string name, Action<TcpServerStage, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddFerry();
        services.Configure<FerryOptions>(options => options.Setups.Add(new StageSetup(name, $"ConfigureTcpServerStage(\"{name}\")", configure, null)));
        return services;
    }

    /// <summary>
    /// Sets up the client stage named <paramref name="name"/> (declared in configuration or with <see cref="AddTcpClientStage"/>)
    /// when the host has built it and before it dials: <c>stage.MapConnections(…)</c>, <c>stage.Connected += …</c>, bus
    /// subscriptions. As <see cref="ConfigureTcpServerStage"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> or <paramref name="configure"/> is null.</exception>
    public static IServiceCollection ConfigureTcpClientStage(this IServiceCollection services, string name, Action<TcpClientStage, IServiceProvider> configure)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddFerry();
        services.Configure<FerryOptions>(options => options.Setups.Add(new StageSetup(name, $"ConfigureTcpClientStage(\"{name}\")", null, configure)));
        return services;
    }

    /// <summary>
    /// A <c>configure</c> of <c>AddTcpServerStage</c> that returned null (a block lambda that forgot its <c>return</c>, a
    /// helper that returns null for "nothing to change"): a problem at validation, with the others, instead of a
    /// <see cref="NullReferenceException"/> out of the host's start.
    /// </summary>
    private static SettingProblem ConfigureReturnedNull(string where) =>
        new(where, "configure", null, "returned null; return the options it is given, changed or not (o => o with { Bind = \":9000\" })");

    /// <summary>
    /// A <c>configure</c> that sets <c>Name</c>: the stage is named by the first argument (its topics, <see cref="FerryStages"/>,
    /// set-up code and metrics all use it), so the other name would be dropped without a word.
    /// </summary>
    private static SettingProblem ConfigureRenamed(string where, string name, string configured) =>
        new(where, "configure", null, $"sets Name '{configured}', but the stage is named '{name}' by the first argument; "
            + $"drop Name from configure, or register the stage under '{configured}'");

    /// <summary>
    /// <c>AddFerry(configuration.GetSection("Feryy"))</c>: the section has no keys (an empty one reads the same). The host's
    /// configuration, when registered, gives the sibling sections to suggest from.
    /// </summary>
    private static SettingProblem MissingSection(IConfigurationSection section, IConfiguration? root)
    {
        var parent = ConfigurationPath.GetParentPath(section.Path);
        var siblings = root is null ? [] : (parent is null ? root.GetChildren() : root.GetSection(parent).GetChildren())
            .Select(c => c.Key).Where(k => !string.Equals(k, section.Key, StringComparison.OrdinalIgnoreCase)).ToList();
        return new SettingProblem($"configuration '{section.Path}'", section.Path, null,
            $"no such section, or it is empty{Suggest.DidYouMean(section.Key, siblings)}: AddFerry reads the stages from its Stages "
            + "and would start none; declare them there (Stages:<name>:Type, …), or call AddFerry() to run only stages added in code");
    }

    /// <summary>The <c>Stages</c> and <c>Bus</c> sections; a stage that sets no <c>StopGracePeriod</c> gets <paramref name="stopGracePeriod"/>.</summary>
    private static void Read(IConfiguration configuration, FerryOptions options, TimeSpan? stopGracePeriod)
    {
        var problems = new List<SettingProblem>();
        if (SectionAround(configuration) is { } around)
        {
            options.AddProblem(around);
            return;
        }
        foreach (var child in configuration.GetChildren())
        {
            switch (SettingEntries.Normalize(child.Key))
            {
                case "stages":
                    var stagesNode = new ConfigurationSettingNode(child, "Stages");
                    foreach (var block in stagesNode.Children)
                        if (StageReader.Read(block, problems, stagesNode.IsSequence ? null : block.Key, stopGracePeriod) is { } stage)
                            options.Add(stage);
                    break;
                case "bus":
                    options.Nats = ReadBus(new ConfigurationSettingNode(child, "Bus"), problems);
                    break;
                default:
                    problems.Add(new SettingProblem($"configuration '{child.Path}'", child.Key, null,
                        SettingEntries.UnknownKey(child.Key, configuration.GetChildren().Select(c => c.Key), ["stages", "bus"], "")));
                    break;
            }
        }
        foreach (var problem in problems)
            options.AddProblem(problem);
    }

    /// <summary>
    /// <c>AddFerry(builder.Configuration)</c> for <c>AddFerry(builder.Configuration.GetSection("Ferry"))</c>: the configuration has no
    /// <c>Stages</c> or <c>Bus</c> of its own but a section that has (<c>Ferry:Stages</c>). Each of its keys was refused as unknown
    /// (<c>Ferry</c>, and the app's own <c>Logging</c>, <c>AllowedHosts</c>), and none said to give the section: one problem says it.
    /// Null when the configuration is the ferry's own or no section of it declares stages.
    /// </summary>
    private static SettingProblem? SectionAround(IConfiguration configuration)
    {
        var children = configuration.GetChildren().ToList();
        if (children.Any(c => SettingEntries.Normalize(c.Key) is "stages" or "bus"))
            return null;
        var holder = children.FirstOrDefault(c => c.GetChildren().Any(g => SettingEntries.Normalize(g.Key) == "stages"));
        if (holder is null)
            return null;
        var given = configuration is IConfigurationSection section ? $"configuration.GetSection(\"{section.Path}\")" : "the whole configuration";
        var others = children.Where(c => c != holder).Select(c => c.Key).ToList();
        return new SettingProblem($"configuration '{holder.Path}'", holder.Path, null,
            $"holds the stages ({holder.Path}:{holder.GetChildren().First(g => SettingEntries.Normalize(g.Key) == "stages").Key}), but AddFerry was given {given}, "
            + $"which has no Stages of its own{(others.Count > 0 ? $" (its other keys: {OtherKeys(others)})" : "")}; "
            + $"give the section: AddFerry(builder.Configuration.GetSection(\"{holder.Path}\"))");
    }

    /// <summary>
    /// A few of the whole configuration's other keys, then how many more: with environment variables in it (the default
    /// builder's) they are every variable's name, a line of hundreds that says nothing the first few do not.
    /// </summary>
    private static string OtherKeys(List<string> keys)
        => keys.Count <= ShownOtherKeys ? string.Join(", ", keys) : $"{string.Join(", ", keys.Take(ShownOtherKeys))} and {keys.Count - ShownOtherKeys} more";

    private const int ShownOtherKeys = 5;

    /// <summary>The <c>Bus</c> section: <c>Type</c> <c>in_process</c> (the default) or <c>nats</c> with the gateway's keys (<c>Url</c>, <c>Mode</c>, …).</summary>
    private static Ferry.Nats.NatsGatewayOptions? ReadBus(ISettingNode bus, List<SettingProblem> problems)
    {
        var type = bus.Children.FirstOrDefault(c => SettingEntries.Normalize(c.Key) == "type");
        var rest = bus.Children.Where(c => c != type).ToList();
        switch (type?.Value?.Trim().ToLowerInvariant())
        {
            case null or "" or "in_process":
                foreach (var node in rest)
                    problems.Add(new SettingProblem(node.Where, node.Path, null, $"unknown key '{node.Key}' for bus type in_process (it takes no settings)"));
                return null;
            case "nats":
                return NatsBusReader.Read(rest, bus, problems);
            default:
                problems.Add(new SettingProblem(type.Where, type.Path, type.Value, $"is not a bus type{Suggest.DidYouMean(type.Value!, ["in_process", "nats"])} (allowed: in_process, nats)"));
                return null;
        }
    }
}
