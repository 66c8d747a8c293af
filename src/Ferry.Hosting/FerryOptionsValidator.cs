using Ferry.Hosting.Settings;
using Ferry.Stages;
using Microsoft.Extensions.Options;

namespace Ferry.Hosting;

/// <summary>Fails <see cref="FerryOptions"/> with every problem: reading errors, invalid stage options, duplicate stage names, names NATS cannot use.</summary>
internal sealed class FerryOptionsValidator : IValidateOptions<FerryOptions>
{
    public ValidateOptionsResult Validate(string? name, FerryOptions options)
    {
        var failures = options.Problems.Select(p => p.ToString()).ToList();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var stage in options.Stages)
        {
            if (!seen.TryAdd(stage.Name, stage.Where))
                failures.Add($"{stage.Where}: stage name '{stage.Name}' is already used by {seen[stage.Name]}; stage names must be unique per bus (their topics would merge)");
            if (options.Nats is { } nats && stage is ServerStageDeclaration)
            {
                var named = new List<SettingProblem>();
                NatsBusReader.CheckStageName(nats, stage, null, named);
                failures.AddRange(named.Select(p => p.ToString()));
            }
            try
            {
                switch (stage)
                {
                    case ServerStageDeclaration server: server.Options.Validate(); break;
                    case ClientStageDeclaration client: client.Options.Validate(); break;
                }
            }
            catch (StageOptionsException ex)
            {
                failures.AddRange(ex.Problems.Select(p => $"{stage.Where}: {p}"));
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
