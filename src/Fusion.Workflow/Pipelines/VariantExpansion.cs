using static Fusion.Workflow.Pipelines.PipelineSyntax;

namespace Fusion.Workflow.Pipelines;

/// <summary>The pass that gives every stage its final variant names: seeds (the stage's own, or set by an extending
/// file, a profile or <c>-p</c>) and variants borrowed from another stage.</summary>
internal static class VariantExpansion
{
    /// <summary>Expands the stages of <paramref name="file"/> in place; returns the settings left for params.</summary>
    public static PipelineSettings Expand(StagesFile file, PipelineSettings settings)
    {
        // Seeds set outside the stage (extending file, profile, -p) replace the stage's own, before variants expand.
        foreach (var (pname, entries) in settings.Profiles)
            foreach (var o in entries.Where(IsSeeds))
                if (pname != settings.Profile) SeedsSetting(o, file.ByName, $"profiles.{pname}.{o.Key}");
        foreach (var o in settings.FileParams.Where(IsSeeds)) { var (st, seeds) = SeedsSetting(o, file.ByName, $"params.{o.Key}"); st.Seeds = seeds; }
        foreach (var o in settings.Applied.Where(IsSeeds)) { var (st, seeds) = SeedsSetting(o, file.ByName, settings.KeyOf(o)); st.Seeds = seeds; }
        var rest = settings.WithoutSeeds();
        foreach (var s in file.Stages) s.ExpandSeeds();
        foreach (var s in file.Stages) ResolveVariantsFrom(s, [], file.Source);
        return rest;
    }

    /// <summary>A <c>stage.seeds</c> setting: its stage and seed list.</summary>
    private static (StageSpec Stage, List<long> Seeds) SeedsSetting(Override o, Dictionary<string, StageSpec> stages, string key)
    {
        PipelineException Error(string message) => o.Error(key, message);
        var m = Setting().Match(o.Key);
        if (m.Groups["variant"].Success) throw Error($"seeds are set per stage ({m.Groups["stage"].Value}.{SeedAxis.Key}), not per variant");
        var stageName = m.Groups["stage"].Value;
        if (!stages.TryGetValue(stageName, out var stage)) throw Error($"no stage '{stageName}' (stages: {Names(stages.Keys)})");
        return (stage, stage.ReadSeeds(o.Value, Error));
    }

    private static void ResolveVariantsFrom(StageSpec s, HashSet<string> visiting, SourceFile source)
    {
        if (s.VariantsFrom is not var (from, at)) return;
        if (!visiting.Add(s.Name)) throw source.Error(at, $"stages.{s.Name}.variants", $"variants refer to each other in a cycle ({string.Join(" → ", visiting)} → {s.Name})");
        ResolveVariantsFrom(from, visiting, source);
        if (from.Variants.Count == 0) throw source.Error(at, $"stages.{s.Name}.variants", $"stage '{from.Name}' has no variants");
        s.Variants.AddRange(from.Variants);
        foreach (var (expanded, declared) in from.DeclaredOf) s.DeclaredOf[expanded] = declared;
        s.VariantsFrom = null;
    }
}
