using System.Globalization;
using Fusion.Workflow.Stages;
using static Fusion.Workflow.Pipelines.PipelineSyntax;

namespace Fusion.Workflow.Pipelines;

/// <summary>A node of the expanded pipeline with its params bound (canonical JSON by name); inputs come next.</summary>
internal sealed record BoundNode(StageSpec Stage, string? Variant, SortedDictionary<string, string> Params);

/// <summary>
/// The pass that gives every node its params, in precedence order: defaults &lt; the stage's seed &lt; params &lt;
/// variant params &lt; an extending file's params &lt; profile &lt; <c>-p</c> overrides.
/// </summary>
internal static class ParamBinding
{
    private sealed record FileParam(string Path, Override From, string Key);

    /// <summary>Node id → node, in file order (stages, then their variants).</summary>
    public static Dictionary<string, BoundNode> Bind(StagesFile file, PipelineSettings settings, bool readFiles)
    {
        var nodes = Nodes(file);
        // File params hold their file's path until every setting is applied: only the file that wins is read.
        var files = new Dictionary<(string Node, string Param), FileParam>();
        foreach (var o in file.Stages.SelectMany(s => s.Params.Concat(s.VariantParams)))
            Apply(o, nodes, file.ByName, ParamKey(o.Key), files);
        foreach (var o in settings.FileParams.OrderBy(o => o.Key.Contains('[')))
            Apply(o, nodes, file.ByName, $"params.{o.Key}", files);
        foreach (var (pname, entries) in settings.Profiles)
            foreach (var o in entries)
                if (pname != settings.Profile) Apply(o, nodes, file.ByName, $"profiles.{pname}.{o.Key}", files, dryRun: true);
        foreach (var o in settings.Applied)
            Apply(o, nodes, file.ByName, settings.KeyOf(o), files);
        if (readFiles) ReadFiles(nodes, files);
        CompleteLockedParams(nodes.Values, file.Source);
        return nodes;
    }

    /// <summary>Locked params last (<see cref="ILockedParams"/>): they come from a file beside the pipeline, whatever the settings were.</summary>
    private static void CompleteLockedParams(IEnumerable<BoundNode> nodes, SourceFile file)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(file.Path)) ?? ".";
        foreach (var (stage, _, parameters) in nodes)
        {
            if (stage.Kind is not ILockedParams locked) continue;
            try { locked.Complete(parameters, folder); }
            catch (FormatException e) { throw file.Error(stage.KeyNode, $"stages.{stage.Name}", e.Message); }
        }
    }

    /// <summary>One node per stage and variant, its params at the kind's defaults and its seed.</summary>
    private static Dictionary<string, BoundNode> Nodes(StagesFile file)
    {
        var nodes = new Dictionary<string, BoundNode>(StringComparer.Ordinal);
        foreach (var s in file.Stages)
            foreach (var variant in s.Variants.Count == 0 ? [null] : s.Variants.Cast<string?>())
                nodes[NodeDefinition.IdOf(s.Name, variant)] = new BoundNode(s, variant, s.Kind.Params.Defaults());
        foreach (var (_, (s, variant, parameters)) in nodes)
            if (s.Seeds is { } seeds)
                parameters[SeedAxis.Param] = ParamSchema.Convert(s.Kind.Params.ByName[SeedAxis.Param],
                    (seeds.Count == 1 ? seeds[0] : SeedAxis.Split(variant!).Seed!.Value).ToString(CultureInfo.InvariantCulture));
        return nodes;
    }

    private static string ParamKey(string key)
    {
        var m = Setting().Match(key);
        return m.Success
            ? $"stages.{m.Groups["stage"].Value}" + (m.Groups["variant"].Success ? $".variants.{m.Groups["variant"].Value}" : ".params") + $".{m.Groups["param"].Value}"
            : key;
    }

    private static void Apply(Override o, Dictionary<string, BoundNode> nodes, Dictionary<string, StageSpec> stages, string key,
        Dictionary<(string Node, string Param), FileParam> files, bool dryRun = false)
    {
        PipelineException Error(string message) => o.Error(key, message);
        var m = Setting().Match(o.Key);
        if (!m.Success) throw Error("expected stage.param or stage[variant].param");
        var stageName = m.Groups["stage"].Value;
        if (!stages.TryGetValue(stageName, out var stage)) throw Error($"no stage '{stageName}' (stages: {Names(stages.Keys)})");
        var paramName = m.Groups["param"].Value;
        if (!stage.Kind.Params.ByName.TryGetValue(paramName, out var info))
            throw Error($"kind '{stage.Kind.Name}' has no param '{paramName}' (params: {Names(stage.Kind.Params.ByName.Keys)})");
        string canonical;
        try { canonical = ParamSchema.Convert(info, ValueOf(o.Value)); }
        catch (FormatException e) { throw Error($"param '{paramName}' of kind '{stage.Kind.Name}': {e.Message}"); }
        var variant = m.Groups["variant"].Success ? m.Groups["variant"].Value : null;
        if (variant is not null && !stage.Matches(variant).Any())
            throw Error($"stage '{stageName}' has no variant '{variant}' (variants: {Names(stage.Variants)})");
        if (paramName == SeedAxis.Param && stage.Seeds is not null)
            throw Error($"stage '{stageName}' declares seeds ({string.Join(", ", stage.Seeds)}), which set its param '{SeedAxis.Param}'; change {stageName}.{SeedAxis.Key} instead");
        if (dryRun) return;
        var matching = variant is null ? null : stage.Matches(variant).ToHashSet(StringComparer.Ordinal);
        foreach (var (id, node) in nodes.Where(n => n.Value.Stage == stage && (matching is null || matching.Contains(n.Value.Variant!))))
        {
            node.Params[paramName] = canonical;
            if (info.File && ValueOf(o.Value) is string path) files[(id, paramName)] = new FileParam(path, o, key);
            else files.Remove((id, paramName));
        }
    }

    /// <summary>Each file param's value becomes the text of the file it names (see <see cref="ParamFileAttribute"/>).</summary>
    private static void ReadFiles(Dictionary<string, BoundNode> nodes, Dictionary<(string Node, string Param), FileParam> files)
    {
        foreach (var ((node, param), (path, from, key)) in files)
        {
            try { nodes[node].Params[param] = ParamSchema.Convert(nodes[node].Stage.Kind.Params.ByName[param], FileText(path, from.Location)); }
            catch (FormatException e) { throw from.Error(key, $"param '{param}' of kind '{nodes[node].Stage.Kind.Name}': {e.Message}"); }
        }
    }

    private static string FileText(string name, SourceLocation from)
    {
        var folder = from.Line > 0 ? Path.GetDirectoryName(Path.GetFullPath(from.File)) ?? "." : Directory.GetCurrentDirectory();
        var path = Path.GetFullPath(Path.Combine(folder, name));
        if (!File.Exists(path)) throw new FormatException($"names the file '{name}', which does not exist ({path})");
        if (new FileInfo(path).Length > ParamFileAttribute.MaxBytes) throw new FormatException($"names the file '{name}' ({path}), larger than a param may be ({ParamFileAttribute.MaxBytes} bytes)");
        return File.ReadAllText(path);
    }
}
