using static Fusion.Workflow.Pipelines.PipelineSyntax;

namespace Fusion.Workflow.Pipelines;

/// <summary>
/// The settings over the stages' own params, in precedence order: an extending file's params, then the selected
/// profile's, then <c>-p</c> overrides (each stage-wide before per variant). Every profile is kept, so the ones not
/// selected are checked too: typos surface early.
/// </summary>
internal sealed record PipelineSettings(List<Override> FileParams, Dictionary<string, List<Override>> Profiles, string? Profile, List<Override> Applied)
{
    /// <param name="pipelineFile">The file the user named (errors about its profiles name it).</param>
    public static PipelineSettings Select(StagesFile file, ExtensionFile? extension, string pipelineFile, string? profile, IEnumerable<string>? overrides)
    {
        var profiles = new Dictionary<string, List<Override>>(file.Profiles, StringComparer.Ordinal);
        foreach (var (pname, entries) in extension?.Profiles ?? []) profiles[pname] = entries;
        var applied = new List<Override>();
        if (profile is not null)
        {
            if (!profiles.TryGetValue(profile, out var selected))
                throw new PipelineException($"unknown profile '{profile}' (profiles of {pipelineFile}: {Names(profiles.Keys)})", SourceLocation.CommandLine, "--profile");
            applied.AddRange(selected.OrderBy(o => o.Key.Contains('['))); // stage-wide settings first, then per variant
        }
        applied.AddRange((overrides ?? []).Select(PipelineLoader.ParseOverride).OrderBy(o => o.Key.Contains('[')));
        return new PipelineSettings(extension?.Settings ?? [], profiles, profile, applied);
    }

    /// <summary>The key an error about an applied setting names: <c>-p stage.param</c> or <c>profiles.NAME.stage.param</c>.</summary>
    public string KeyOf(Override applied) =>
        applied.Location == SourceLocation.CommandLine ? $"-p {applied.Key}" : $"profiles.{Profile}.{applied.Key}";

    /// <summary>The settings without the <c>stage.seeds</c> ones (which expand variants, not params).</summary>
    public PipelineSettings WithoutSeeds() => this with
    {
        FileParams = FileParams.Where(o => !IsSeeds(o)).ToList(),
        Applied = Applied.Where(o => !IsSeeds(o)).ToList(),
        Profiles = Profiles.ToDictionary(kv => kv.Key, kv => kv.Value.Where(o => !IsSeeds(o)).ToList()),
    };
}
